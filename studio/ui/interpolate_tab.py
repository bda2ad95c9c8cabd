"""Interpolate tab and the `/interpolate`, `/directions` and `/move` endpoints: latent walks as PNG frames, a
looping GIF and an MP4; the artist's own images as keyframes; sliders along the model's latent directions."""
from __future__ import annotations

import time
from typing import Iterator

import gradio as gr

from ..core.errors import StudioError
from ..services.directions import MAX_AMOUNT, latent_directions, move_along
from ..services.generate import parameters_from_png, sampling_settings
from ..services.interpolate import (
    EASINGS,
    MAX_FPS,
    MAX_FRAMES,
    METHODS,
    RESAMPLING,
    interpolate,
)
from ..services.models import settings_of
from .common import (
    COMPUTE,
    file_paths,
    model_choices,
    on_stop,
    rating_row,
    rating_updates,
    selected_value,
    stream_work,
    throttled,
    ui_event,
    user_errors,
)
from .views import key_values

SLIDERS = 6            # direction sliders shown (the strongest directions)
# Interpolation samples diffusion models with DDIM at eta 0, so only their step count is offered here.
UI_SETTINGS = ("temperature", "truncation", "steps")


def _setting(name: str):
    return sampling_settings("image").get(name)


def _outputs(result) -> tuple:
    frames = [(str(p), f"frame {i}") for i, p in enumerate(result.frames)]
    pairs = []
    for (original, rebuilt), key in zip(result.reconstructions,
                                        [k for k in result.parameters["keyframes"] if "image" in k]):
        pairs += [(str(original), f"{key['image']}: yours"),
                  (str(rebuilt), f"{key['image']}: as the model redraws it (distance {key['perceptual_distance']})")]
    info = {**result.parameters, "notes": result.notes, "gallery_id": result.gallery_id}  # for /rate
    return frames, str(result.gif), str(result.mp4), str(result.sheet), str(result.zip), pairs, info


def _streamed(model, progress, **options) -> Iterator[tuple[str, object]]:
    """Interpolate in a worker thread: yields ("progress", text) from the frames and steps done,
    ("done", result) at the end, ("tick", None) while quiet. Closing the generator (Stop, a client's
    cancel) stops the decoding, projection or inversion after its current step."""

    def work(emit, cancelled):
        return interpolate(model, cancelled=cancelled,
                           progress=throttled(lambda f, text: emit("progress", (f, text))),
                           **options)

    for kind, value in stream_work(work):
        if kind == "progress":
            progress(value[0], desc=value[1])
            yield "progress", value[1]
        else:
            yield kind, value


@user_errors
def interpolate_api(model: str, seeds: str = "11, 42", images: list[str] | None = None, frames: int = 16,
                    method: str = "slerp", loop: bool = False, fps: int = 12, easing: str = "linear",
                    size: int | None = None, resample: str = "nearest", walk_frames: int = 0,
                    projection_steps: int = 200, temperature: float | None = None, truncation: float | None = None,
                    sampler: str | None = None, steps: int | None = None, eta: float | None = None,
                    progress=gr.Progress()):
    """Animate a walk through an image model's latent space.

    seeds: comma-separated seeds ("11, 42, 7") or "random"; images: optional keyframe pictures (encoded into
    the model: VAE encoder, GAN projection, diffusion DDIM inversion), after the seeds. frames: per segment
    (1-240); method: slerp or lerp; loop: back to the first keyframe; fps 1-50; easing: linear or
    ease-in-out; size: output side in px, a multiple of 16 (empty: at least 256); resample: nearest or
    lanczos; walk_frames > 0: a smooth random loop of that many frames from the first seed instead.
    Returns the PNG frames, the GIF, the MP4, a contact sheet, a zip of the frames, your images beside their
    reconstructions, and the parameters. Progress shows in `job.status().progress_data`; `job.cancel()`
    stops the work within one step.
    """
    progress(0, desc="loading the model")
    for kind, value in _streamed(
            model, progress, seeds=seeds, images=file_paths(images), frames=frames, method=method or "slerp",
            easing=easing or "linear", loop=bool(loop), fps=fps, size=size or None, resample=resample or "nearest",
            walk_frames=walk_frames or 0, projection_steps=projection_steps or 200,
            temperature=temperature, truncation=truncation, sampler=sampler or None,
            steps=None if steps is None else int(steps), eta=eta):
        # Only the result is the endpoint's value; the other updates let a cancel close this generator.
        yield _outputs(value) if kind == "done" else gr.skip()


@user_errors
def directions_api(model: str, progress=gr.Progress()):
    """The model's principal latent directions (GAN and VAE): how many, and the share of image variance each
    explains. Computed once per model (a few seconds) and cached."""
    progress(0, desc="finding the model's latent directions (once per model)")
    return latent_directions(model, progress=lambda done, total: progress(done / total, desc="sampling"))


@user_errors
def move_api(model: str, seed: int = 0, image: str | None = None, amounts: str = "", size: int | None = None,
             temperature: float | None = None, truncation: float | None = None):
    """The image of `seed` (or your `image`, encoded) moved along the latent directions; amounts is a
    comma-separated list, one number per direction in latent standard deviations (-5..5), e.g. "2, 0, -1"."""
    try:
        values = [float(a) for a in str(amounts or "").replace(",", " ").split()]
    except ValueError:
        raise gr.Error(f"amounts must be numbers separated by commas, like '2, 0, -1'; got {amounts!r}") from None
    path, params = move_along(model, values, seed=None if seed is None else int(seed), image=image or None,
                              size=size or None, temperature=temperature, truncation=truncation)
    return str(path), params


def _own_settings(model: str) -> set[str]:
    try:
        return {s.name for s in settings_of(model)}
    except Exception:
        return set()


def _show_settings(model: str):
    own = _own_settings(model)
    return [gr.update(visible=name in own) for name in UI_SETTINGS]


def _given(model: str, values) -> dict:
    own = _own_settings(model)
    return {name: value for name, value in zip(UI_SETTINGS, values) if name in own}


def _interpolate_from_ui(model, seeds, images, frames, method, loop, fps, easing, size, resample, walk_frames,
                         projection_steps, *values, progress=gr.Progress()):
    if not model:
        raise StudioError("choose a model (train one in the Train tab, or import one in the Models tab)")
    given = _given(model, values)
    if "steps" in given:
        given["steps"] = int(given["steps"])
    skip = gr.skip()
    started = time.monotonic()
    for kind, value in _streamed(model, progress, seeds=seeds, images=file_paths(images), frames=frames,
                                 method=method, easing=easing, loop=bool(loop), fps=fps, size=size,
                                 resample=resample, walk_frames=walk_frames, projection_steps=projection_steps,
                                 **given):
        if kind == "progress":
            yield (skip,) * 8 + (f"**Working**: {value}",) + (skip,) * 5
        elif kind == "done":
            outputs = _outputs(value)
            note = "; ".join(value.notes)
            yield (*outputs, key_values(outputs[-1], skip=("weights", "studio_version", "notes", "gallery_id")),
                   f"**Done**: {len(value.frames)} frames in {time.monotonic() - started:.1f} s"
                   + (f" ({note})" if note else ""), *rating_updates([("the animation", value.gallery_id)]))
        else:
            yield skip


def _move_from_ui(model, seed, image, size, resample, *rest):
    values, amounts = rest[:len(UI_SETTINGS)], rest[len(UI_SETTINGS):]
    given = {k: v for k, v in _given(model, values).items() if k != "steps"}
    path, _ = move_along(model, list(amounts), seed=seed, image=image or None, size=size, resample=resample,
                         **given)
    return str(path)


def _describe_directions(model):
    info = latent_directions(model)
    shares = ", ".join(f"{100 * e:.1f}%" for e in info["explained"][:SLIDERS])
    return f"Directions of {info['model']}, strongest first; share of the image variation: {shares}"


def _seed_of(item) -> tuple[str | None, int | None]:
    """(model, seed) from a Generate gallery item: the studio PNG carries its parameters."""
    path = item[0] if isinstance(item, (list, tuple)) else (item.get("image", {}) or {}).get("path") \
        if isinstance(item, dict) else item
    try:
        params = parameters_from_png(path)
    except Exception:
        return None, None
    return params.get("model"), params.get("seed")


def _take_generated(gallery, current_model):
    if not gallery:
        raise gr.Error("generate some images in the Generate tab first")
    found = [_seed_of(item) for item in gallery]
    found = [(m, s) for m, s in found if s is not None]
    if not found:
        raise gr.Error("those images carry no seeds")
    model = found[0][0] or current_model
    return gr.update(value=model), ", ".join(str(s) for m, s in found if m == model)


def _add_selected(selected, seeds, current_model):
    if not selected:
        raise gr.Error("click an image in the Generate tab's gallery first")
    model, seed = _seed_of(selected)
    if seed is None:
        raise gr.Error("that image carries no seed")
    if model and model != current_model:
        return gr.update(value=model), str(seed)
    text = (seeds or "").strip()
    return gr.update(), f"{text}, {seed}" if text else str(seed)


def _control(name: str):
    s = _setting(name)
    if s is None:
        return gr.Number(None, visible=False, label=name)
    step = 1 if isinstance(s.default, int) else 0.05
    return gr.Slider(s.minimum, s.maximum, value=s.default, step=step, label=name, info=s.help, visible=False,
                     elem_id=f"interpolate-{name}")


def build(demo: gr.Blocks, generate_gallery: gr.Gallery | None = None, tab: gr.Tab | None = None) -> None:
    choices = model_choices(kind="image")
    first = choices[0][1] if choices else None
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=320):
            model = gr.Dropdown(choices, value=first, label="Model", elem_id="interpolate-model")
            seeds = gr.Textbox("11, 42", label="Seeds", info="keyframes: comma-separated seeds, or 'random'",
                               elem_id="interpolate-seeds")
            with gr.Row():
                run = gr.Button("Animate", variant="primary", elem_id="interpolate-button", scale=2, min_width=100)
                stop = gr.Button("Stop", variant="stop", elem_id="interpolate-stop", scale=1, min_width=60)
            frames = gr.Slider(1, MAX_FRAMES, value=16, step=1, label="Frames per segment",
                               elem_id="interpolate-frames")
            with gr.Row():
                method = gr.Radio(list(METHODS), value="slerp", label="Path", elem_id="interpolate-method")
                easing = gr.Radio(list(EASINGS), value="linear", label="Easing", elem_id="interpolate-easing")
            fps = gr.Slider(1, MAX_FPS, value=12, step=1, label="Frames per second", elem_id="interpolate-fps")
            loop = gr.Checkbox(False, label="Loop back to the start", elem_id="interpolate-loop")
            if generate_gallery is not None:
                with gr.Row():
                    use_all = gr.Button("Use the Generate tab's images", size="sm", elem_id="interpolate-use-all")
                    add_one = gr.Button("Add the selected Generate image", size="sm",
                                        elem_id="interpolate-add-selected")
            with gr.Accordion("Your images as keyframes", open=False):
                images = gr.File(label="Pictures to pass through (after the seeds)", file_count="multiple",
                                 file_types=["image"], height=120, elem_id="interpolate-images")
            with gr.Accordion("More", open=False):
                size = gr.Slider(16, 1024, value=256, step=16, label="Output size (px)", elem_id="interpolate-size")
                resample = gr.Radio(list(RESAMPLING), value="nearest", label="Upscaling",
                                    info="nearest keeps pixels crisp; lanczos smooths", elem_id="interpolate-resample")
                walk_frames = gr.Slider(0, 480, value=0, step=1, label="Random walk frames",
                                        info="above 0: a smooth random loop from the first seed instead",
                                        elem_id="interpolate-walk")
                projection_steps = gr.Slider(10, 1000, value=200, step=10, label="GAN projection steps",
                                             elem_id="interpolate-projection-steps")
                controls = [_control(name) for name in UI_SETTINGS]
        with gr.Column(scale=5, elem_id="interpolate-outputs"):
            status = gr.Markdown("Press **Animate** to walk from one seed's image to the next.",
                                 elem_id="interpolate-status", elem_classes=["status-line"])
            with gr.Row(equal_height=True):
                gif = gr.Image(label="GIF (loops)", type="filepath", interactive=False, height=300,
                               elem_id="interpolate-gif", elem_classes=["pixelated", "fill-image"])
                mp4 = gr.Video(label="MP4", elem_id="interpolate-mp4", loop=True, interactive=False, height=300)
            rating = rating_row("interpolate")
            gallery = gr.Gallery(label="Frames", format="png", columns=8, height=260, object_fit="contain",
                                 interactive=False, elem_id="interpolate-frames-gallery",
                                 elem_classes=["pixelated", "fit-columns"])
            sheet = gr.Image(label="Contact sheet", type="filepath", format="png", interactive=False,
                             elem_id="interpolate-sheet", elem_classes=["pixelated"])
            with gr.Row(equal_height=False):
                zip_file = gr.File(label="All frames (zip)", interactive=False, elem_id="interpolate-zip")
                with gr.Column():
                    table = gr.HTML(elem_id="interpolate-table")
                    with gr.Accordion("Parameters as JSON", open=False):
                        info = gr.JSON(label="Parameters", elem_id="interpolate-info")
            pairs = gr.Gallery(label="Your images beside their reconstructions", format="png", columns=4,
                               height="auto", interactive=False, visible=True, elem_id="interpolate-reconstructions",
                               elem_classes=["pixelated"])
            with gr.Accordion("Latent directions (GAN and VAE models)", open=False):
                about = gr.Markdown("Move an image along the directions its model's images vary most.")
                with gr.Row():
                    base_seed = gr.Number(11, precision=0, label="Seed", elem_id="directions-seed")
                    base_image = gr.Image(label="or your image", type="filepath", elem_id="directions-image")
                    preview = gr.Image(label="Preview", type="filepath", format="png", interactive=False,
                                       elem_id="directions-preview", elem_classes=["pixelated", "fill-image"])
                sliders = [gr.Slider(-MAX_AMOUNT, MAX_AMOUNT, value=0, step=0.25, label=f"direction {i + 1}",
                                     elem_id=f"directions-{i}") for i in range(SLIDERS)]
                find = gr.Button("Find directions", size="sm", elem_id="directions-find")

    outputs = [gallery, gif, mp4, sheet, zip_file, pairs, info]
    inputs = [model, seeds, images, frames, method, loop, fps, easing, size, resample, walk_frames,
              projection_steps, *controls]
    event = ui_event(run.click, _interpolate_from_ui, inputs, [*outputs, table, status, *rating.outputs],
                     concurrency_id=COMPUTE, show_progress_on=[gif])
    on_stop(stop, event, status)
    model.change(_show_settings, model, controls, api_visibility="private", queue=False)

    move_inputs = [model, base_seed, base_image, size, resample, *controls, *sliders]
    ui_event(find.click, _describe_directions, model, about, concurrency_id=COMPUTE)
    for slider in sliders:  # live preview: each release redraws (only the latest when several queue up)
        ui_event(slider.release, _move_from_ui, move_inputs, preview, trigger_mode="always_last",
                 concurrency_id=COMPUTE)
    ui_event(base_seed.submit, _move_from_ui, move_inputs, preview, concurrency_id=COMPUTE)
    ui_event(base_image.change, _move_from_ui, move_inputs, preview, concurrency_id=COMPUTE)

    if generate_gallery is not None:
        selected = gr.State(None)
        generate_gallery.select(selected_value, None, selected, api_visibility="private", queue=False)
        ui_event(use_all.click, _take_generated, [generate_gallery, model], [model, seeds], queue=False,
                 show_progress="hidden")
        ui_event(add_one.click, _add_selected, [selected, seeds, model], [model, seeds], queue=False,
                 show_progress="hidden")

    # Public endpoints read hidden components so scripts name only what they mean; see interpolate_api.
    with gr.Row(visible=False):
        api_inputs = [gr.Textbox(label="model"), gr.Textbox("11, 42", label="seeds"),
                      gr.File(file_count="multiple", label="images"), gr.Number(16, precision=0, label="frames"),
                      gr.Textbox("slerp", label="method"), gr.Checkbox(False, label="loop"),
                      gr.Number(12, precision=0, label="fps"), gr.Textbox("linear", label="easing"),
                      gr.Number(None, precision=0, label="size"), gr.Textbox("nearest", label="resample"),
                      gr.Number(0, precision=0, label="walk_frames"),
                      gr.Number(200, precision=0, label="projection_steps"), gr.Number(None, label="temperature"),
                      gr.Number(None, label="truncation"), gr.Textbox(None, label="sampler"),
                      gr.Number(None, precision=0, label="steps"), gr.Number(None, label="eta")]
        api_run = gr.Button("interpolate")
        dir_model = gr.Textbox(label="model")
        dir_info = gr.JSON()
        api_dirs = gr.Button("directions")
        move_inputs_api = [gr.Textbox(label="model"), gr.Number(0, precision=0, label="seed"),
                           gr.File(label="image"), gr.Textbox("", label="amounts"),
                           gr.Number(None, precision=0, label="size"), gr.Number(None, label="temperature"),
                           gr.Number(None, label="truncation")]
        move_image, move_info = gr.Image(type="filepath", format="png"), gr.JSON()
        api_move = gr.Button("move")
    api_run.click(interpolate_api, api_inputs, outputs, api_name="interpolate", concurrency_id=COMPUTE)
    api_dirs.click(directions_api, dir_model, dir_info, api_name="directions", concurrency_id=COMPUTE)
    api_move.click(move_api, move_inputs_api, [move_image, move_info], api_name="move", concurrency_id=COMPUTE)

    def refresh(current):
        names = model_choices(kind="image")
        valid = {n for _, n in names}
        value = current if current in valid else (names[0][1] if names else None)
        return gr.update(choices=names, value=value), *_show_settings(value)

    demo.load(refresh, model, [model, *controls], api_visibility="private", queue=False)
    if tab is not None:
        tab.select(refresh, model, [model, *controls], api_visibility="private", queue=False)
