"""Generate tab and the `/generate` endpoint: images from any image model in the registry."""
from __future__ import annotations

import time
from typing import Iterator

import gradio as gr

from ..core.errors import StudioError
from ..services.generate import (
    MAX_COUNT,
    generate,
    parameters_from_png,
    sampling_settings,
)
from ..services.models import settings_of
from .common import (
    COMPUTE,
    model_choices,
    number_or_default,
    on_stop,
    pick_rated,
    rating_row,
    rating_updates,
    stream_work,
    throttled,
    ui_event,
    user_errors,
)
from .views import key_values

# Every sampling setting any image family takes, by name (ranges and defaults live in the family).
SETTINGS = sampling_settings("image")
SETTING_NAMES = list(SETTINGS)


def _outputs(result) -> tuple:
    gallery = [(str(p), f"seed {s}") for p, s in zip(result.files, result.seeds)]
    # The gallery ids let a script rate the images it just made (/rate).
    info = {**result.parameters, "seeds": result.seeds, "gallery_ids": result.gallery_ids}
    return gallery, str(result.grid), str(result.zip), info


def _rated(seeds, ids) -> list[tuple[str, str | None]]:
    return [(f"seed {s}", i) for s, i in zip(seeds, ids)]


def _streamed(model, count, seed, settings: dict, progress) -> Iterator[tuple[str, tuple]]:
    """Generate in a worker thread, yielding (kind, (gallery, grid, zip, info, status, rated)) as the work goes:
    "progress" from the denoising steps done, "partial" with each finished chunk of images, "done" with the
    result, "tick" while it is quiet; `rated` is [(label, gallery id)] for the images shown so far, or skip.
    Stop (which closes this generator) ends the sampling within one step; the images finished before it stay
    shown and in the gallery."""

    def work(emit, cancelled):
        return generate(model, count, seed, progress=throttled(lambda f, text: emit("progress", (f, text))),
                        cancelled=cancelled, finished=lambda *done: emit("finished", done),
                        **settings)

    skip = gr.skip()
    started = time.monotonic()
    for kind, value in stream_work(work):
        if kind == "progress":
            progress(value[0], desc=value[1])
            yield "progress", (skip, skip, skip, skip, f"**Working**: {value[1]}", skip)
        elif kind == "finished":
            files, seeds, ids = value
            yield "partial", ([(str(p), f"seed {s}") for p, s in zip(files, seeds)], skip, skip, skip, skip,
                              _rated(seeds, ids))
        elif kind == "done":
            n, seconds = len(value.files), time.monotonic() - started
            yield "done", (*_outputs(value), f"**Done**: {n} image{'s' if n > 1 else ''} in {seconds:.1f} s",
                           _rated(value.seeds, value.gallery_ids))
        else:
            yield "tick", (skip,) * 6


@user_errors
def generate_api(model: str, count: int = 4, seed: int = -1, temperature: float | None = None,
                 truncation: float | None = None, sampler: str | None = None, steps: int | None = None,
                 eta: float | None = None, progress=gr.Progress()):
    """Generate `count` images (1-64) from an image model. seed -1 draws a random seed; image i uses seed+i.

    Settings apply to some families only (temperature: VAE; truncation: GAN; sampler, steps, eta: diffusion);
    leave the others empty. Returns the PNGs (parameters embedded), one grid PNG, a zip, and the parameters.
    Progress (images and denoising steps done) shows in `job.status().progress_data`; `job.cancel()` stops
    the sampling within one step.
    """
    given = {"temperature": temperature, "truncation": truncation, "sampler": sampler or None,
             "steps": None if steps is None else int(steps), "eta": eta}
    count = 4 if count is None else count
    for kind, update in _streamed(model, count, -1 if seed is None else seed, given, progress):
        # Only the result is the endpoint's value; the other updates let a cancel close this generator.
        yield update[:4] if kind == "done" else gr.skip()


def _generate_from_ui(model: str, count: int, seed, *values, progress=gr.Progress()):
    if not model:
        raise StudioError("choose a model (train one in the Train tab, or import one in the Models tab)")
    # The UI shows every family's controls; pass only the chosen model's own settings.
    own = {s.name for s in settings_of(model)}
    given = {name: value for name, value in zip(SETTING_NAMES, values) if name in own}
    seed = number_or_default(seed)
    first = True  # the first images of a batch start the rating row over; later chunks add to its choices
    for kind, (gallery, grid_image, zip_file, info, status, rated) in _streamed(
            model, count, -1 if seed is None else seed, given, progress):
        table = key_values(info, skip=("weights", "studio_version", "gallery_ids")) if kind == "done" else gr.skip()
        rating = (gr.skip(),) * 5
        if isinstance(rated, list):
            rating, first = rating_updates(rated, first), False
        yield gallery, grid_image, zip_file, info, table, status, *rating


def _show_settings(model: str):
    try:
        own = {s.name for s in settings_of(model)}
    except Exception:
        own = set()
    updates = [gr.update(visible=name in own) for name in SETTING_NAMES]
    # Gradio passes a one-output event's return value whole: a list of one update would become the value.
    return updates[0] if len(updates) == 1 else updates


@user_errors
def reuse_parameters(png: str):
    """Read the parameters embedded in a studio PNG, to restore the settings that made it.

    `batch` holds the first seed and the count of the /generate call that made it, and the image's index
    there: that call repeated gives identical pixels. The image's own `seed` with count 1 gives the same
    picture, though some models differ by a pixel level, as CPU kernels change with the batch size."""
    if not png:
        raise gr.Error("upload a PNG saved by the studio")
    return parameters_from_png(png)


def _apply_parameters(png: str):
    if not png:
        return gr.skip()  # the file was cleared
    params = parameters_from_png(png)
    batch = params.get("batch") or {"seed": params.get("seed", -1), "count": 1}  # older PNGs name no batch
    updates = [gr.update(value=params["model"]), gr.update(value=batch["count"]), gr.update(value=batch["seed"])]
    updates += [gr.update(value=params[name]) if name in params else gr.update() for name in SETTING_NAMES]
    return [*updates, params, key_values(params, skip=("weights", "studio_version")),
            f"**Parameters restored** from {params['model']}, seed {params.get('seed')}: press Generate to "
            f"make the batch again"]


def _control(setting):
    if setting.choices:
        return gr.Dropdown(list(setting.choices), value=setting.default, label=setting.name.replace("_", " "),
                           info=setting.help, visible=False, elem_id=f"generate-{setting.name}")
    step = 1 if isinstance(setting.default, int) else 0.05
    return gr.Slider(setting.minimum, setting.maximum, value=setting.default, step=step,
                     label=setting.name.replace("_", " "), info=setting.help, visible=False,
                     elem_id=f"generate-{setting.name}")


# The model the tab opens with: small, fast and clean (8 digits in a few seconds on a CPU), measured in the
# README's start-up figures. Without it the first shipped image model by name would open the tab
# (colour-base-diffusion, since it was shipped: 64 px blobs made for fine-tuning, not for a first look).
DEFAULT_MODEL = "digits-diffusion"


def build(demo: gr.Blocks, tab: gr.Tab | None = None) -> gr.Gallery:
    """The tab's components and events; returns the gallery so other tabs can take its images."""
    choices = model_choices(kind="image")
    names = [name for _, name in choices]
    first = DEFAULT_MODEL if DEFAULT_MODEL in names else (names[0] if names else None)
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            model = gr.Dropdown(choices, value=first, label="Model", elem_id="generate-model")
            with gr.Row():
                run = gr.Button("Generate", variant="primary", elem_id="generate-button", scale=2, min_width=100)
                stop = gr.Button("Stop", variant="stop", elem_id="generate-stop", scale=1, min_width=60)
            count = gr.Slider(1, MAX_COUNT, value=8, step=1, label="Count", elem_id="generate-count")
            seed = gr.Number(-1, precision=0, label="Seed", info="-1 or empty: a random seed; image i uses seed + i",
                             elem_id="generate-seed")
            controls = [_control(SETTINGS[name]) for name in SETTING_NAMES]
            with gr.Accordion("Reuse parameters from a PNG", open=False):
                png = gr.File(label="A PNG made by the studio", file_types=[".png"], elem_id="generate-reuse")
        with gr.Column(scale=3, elem_id="generate-outputs"):
            status = gr.Markdown("Press **Generate** to sample the chosen model.", elem_id="generate-status",
                                 elem_classes=["status-line"])
            gallery = gr.Gallery(label="Images", format="png", columns=6, height=480, object_fit="contain",
                                 interactive=False, elem_id="generate-gallery", elem_classes=["pixelated", "fit-columns"])
            rating = rating_row("generate")  # a click on an image chooses it
            with gr.Row(equal_height=False):
                grid_image = gr.Image(label="Grid", type="filepath", format="png", interactive=False,
                                      elem_id="generate-grid", elem_classes=["pixelated", "fill-image"], height=300)
                with gr.Column():
                    zip_file = gr.File(label="Download all (zip)", interactive=False, elem_id="generate-zip")
                    table = gr.HTML(elem_id="generate-table")
                    with gr.Accordion("Parameters as JSON", open=False):
                        info = gr.JSON(label="Parameters", elem_id="generate-info")

    outputs = [gallery, grid_image, zip_file, info]
    event = ui_event(run.click, _generate_from_ui, [model, count, seed, *controls],
                     [*outputs, table, status, *rating.outputs], concurrency_id=COMPUTE, show_progress_on=[gallery])
    on_stop(stop, event, status)
    ui_event(gallery.select, pick_rated, rating.ids, [rating.item, rating.stars, rating.favourite, rating.note],
             concurrency_limit=None, show_progress="hidden")
    model.change(_show_settings, model, controls, api_visibility="private", queue=False)
    ui_event(png.upload, _apply_parameters, png, [model, count, seed, *controls, info, table, status],
             show_progress="hidden")

    # The public endpoints take their inputs from hidden components, so scripts name only the settings they
    # mean (every family's settings are optional values); their outputs are the visible ones above.
    with gr.Row(visible=False):
        api_inputs = [gr.Textbox(label="model"), gr.Number(4, precision=0, label="count"),
                      gr.Number(-1, precision=0, label="seed"), gr.Number(None, label="temperature"),
                      gr.Number(None, label="truncation"), gr.Textbox(None, label="sampler"),
                      gr.Number(None, precision=0, label="steps"), gr.Number(None, label="eta")]
        api_generate = gr.Button("generate")
        api_png = gr.File(label="png")
        api_reuse = gr.Button("reuse parameters")
    api_generate.click(generate_api, api_inputs, outputs, api_name="generate", concurrency_id=COMPUTE)
    api_reuse.click(reuse_parameters, api_png, info, api_name="reuse_parameters", concurrency_limit=None)

    # New models appear after training or import: refresh the list when the page loads and the tab opens.
    demo.load(refresh_models, model, [model, *controls], api_visibility="private", queue=False)
    if tab is not None:
        tab.select(refresh_models, model, [model, *controls], api_visibility="private", queue=False)
    return gallery


def refresh_models(current):
    """The model list as the registry has it now, keeping the chosen model if it still exists."""
    names = model_choices(kind="image")
    valid = {n for _, n in names}
    value = current if current in valid else (names[0][1] if names else None)
    shown = _show_settings(value)
    return gr.update(choices=names, value=value), *(shown if isinstance(shown, list) else [shown])
