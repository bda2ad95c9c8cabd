"""Generate tab and the `/generate` endpoint: images from any image model in the registry."""
from __future__ import annotations

import gradio as gr

from ..services.generate import (
    MAX_COUNT,
    generate,
    parameters_from_png,
    sampling_settings,
)
from ..services.models import settings_of
from .common import COMPUTE, model_choices, user_errors

# Every sampling setting any image family takes, by name (ranges and defaults live in the family).
SETTINGS = sampling_settings("image")
SETTING_NAMES = list(SETTINGS)


def _outputs(result) -> tuple:
    gallery = [(str(p), f"seed {s}") for p, s in zip(result.files, result.seeds)]
    info = {**result.parameters, "seeds": result.seeds}
    return gallery, str(result.grid), str(result.zip), info


@user_errors
def generate_api(model: str, count: int = 4, seed: int = -1, temperature: float | None = None,
                 truncation: float | None = None, sampler: str | None = None, steps: int | None = None,
                 eta: float | None = None, progress=gr.Progress()):
    """Generate `count` images (1-64) from an image model. seed -1 draws a random seed; image i uses seed+i.

    Settings apply to some families only (temperature: VAE; truncation: GAN; sampler, steps, eta: diffusion);
    leave the others empty. Returns the PNGs (parameters embedded), one grid PNG, a zip, and the parameters.
    """
    progress(0, desc="loading the model")
    given = {"temperature": temperature, "truncation": truncation, "sampler": sampler or None,
             "steps": None if steps is None else int(steps), "eta": eta}
    result = generate(model, int(count) if count is not None else 4, -1 if seed is None else int(seed), **given)
    return _outputs(result)


@user_errors
def _generate_from_ui(model: str, count: int, seed: int, *values, progress=gr.Progress()):
    # The UI shows every family's controls; pass only the chosen model's own settings.
    own = {s.name for s in settings_of(model)}
    given = {name: value for name, value in zip(SETTING_NAMES, values) if name in own}
    progress(0, desc="generating")
    return _outputs(generate(model, int(count), int(seed), **given))


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
    params = reuse_parameters(png)
    batch = params.get("batch") or {"seed": params.get("seed", -1), "count": 1}  # older PNGs name no batch
    updates = [gr.update(value=params["model"]), gr.update(value=batch["count"]), gr.update(value=batch["seed"])]
    updates += [gr.update(value=params[name]) if name in params else gr.update() for name in SETTING_NAMES]
    return [*updates, params]


def _control(setting):
    if setting.choices:
        return gr.Dropdown(list(setting.choices), value=setting.default, label=setting.name.replace("_", " "),
                           info=setting.help, visible=False, elem_id=f"generate-{setting.name}")
    step = 1 if isinstance(setting.default, int) else 0.05
    return gr.Slider(setting.minimum, setting.maximum, value=setting.default, step=step,
                     label=setting.name.replace("_", " "), info=setting.help, visible=False,
                     elem_id=f"generate-{setting.name}")


def build(demo: gr.Blocks) -> gr.Gallery:
    """The tab's components and events; returns the gallery so other tabs can take its images."""
    choices = model_choices(kind="image")
    first = choices[0][1] if choices else None
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            model = gr.Dropdown(choices, value=first, label="Model", elem_id="generate-model")
            count = gr.Slider(1, MAX_COUNT, value=8, step=1, label="Count", elem_id="generate-count")
            seed = gr.Number(-1, precision=0, label="Seed", info="-1 picks a random seed; image i uses seed + i",
                             elem_id="generate-seed")
            controls = [_control(SETTINGS[name]) for name in SETTING_NAMES]
            with gr.Row():
                run = gr.Button("Generate", variant="primary", elem_id="generate-button")
                stop = gr.Button("Stop", variant="stop", elem_id="generate-stop")
            with gr.Accordion("Reuse parameters from a PNG", open=False):
                png = gr.File(label="A PNG made by the studio", file_types=[".png"], elem_id="generate-reuse")
        with gr.Column(scale=2):
            gallery = gr.Gallery(label="Images", format="png", columns=4, height="auto", elem_id="generate-gallery")
            with gr.Row():
                grid_image = gr.Image(label="Grid", type="filepath", format="png", elem_id="generate-grid")
                with gr.Column():
                    zip_file = gr.File(label="Download all (zip)", elem_id="generate-zip")
                    info = gr.JSON(label="Parameters", elem_id="generate-info")

    outputs = [gallery, grid_image, zip_file, info]
    event = run.click(_generate_from_ui, [model, count, seed, *controls], outputs, api_visibility="private",
                      concurrency_id=COMPUTE)
    stop.click(None, cancels=[event], api_visibility="private")
    model.change(_show_settings, model, controls, api_visibility="private", queue=False)
    png.upload(_apply_parameters, png, [model, count, seed, *controls, info], api_visibility="private")

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

    # New models appear after training or import: refresh the list when the page loads.
    def refresh(current):
        names = model_choices(kind="image")
        valid = {n for _, n in names}
        value = current if current in valid else (names[0][1] if names else None)
        shown = _show_settings(value)
        return gr.update(choices=names, value=value), *(shown if isinstance(shown, list) else [shown])

    demo.load(refresh, model, [model, *controls], api_visibility="private", queue=False)
    return gallery
