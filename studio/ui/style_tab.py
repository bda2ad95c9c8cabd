"""Style tab and the `/stylize` and `/train_style` endpoints: neural style transfer with three methods.

The interactive button streams previews while optimisation runs (a Stop button cancels it and keeps the
result so far); the public endpoints take plain files so that scripts get clear messages for any input.
"""
from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image

from ..core.environment import environment
from ..core.errors import StudioError
from ..services.stylize import (
    MAX_SIZE,
    MAX_STEPS,
    available_methods,
    default_method,
    example_images,
    feature_network_in_use,
    stylize,
)
from ..services.models import list_models
from ..services.training import propose_name, start_training
from .common import (
    COMPUTE,
    file_path,
    file_paths,
    number_or_default,
    rating_row,
    rating_updates,
    selected_value,
    stream_work,
    throttled,
    ui_event,
    user_errors,
)
from .views import key_values

# The first pair is the tab's first-open result (AdaIN): one whose content survives a strong style clearly.
EXAMPLES = [("astronaut", "retina"), ("chelsea", "mypaint-cork"), ("coffee", "hubble_deep_field"),
            ("china", "brick")]
DEFAULT_SIZE, DEFAULT_STEPS = 384, 100


@user_errors
def stylize_api(content, style=None, method: str | None = None, styles=None, style_weights: str | None = None,
                strength: float = 1.0, size: int = DEFAULT_SIZE, steps: int = DEFAULT_STEPS,
                preserve_colors: bool = False, mask=None, seed: int = 0, progress=gr.Progress()):
    """Stylise the `content` image with the `style` image and return the PNG (parameters embedded) and the
    parameters.

    method: "fast-optimization" (the default when empty: a short coarse-to-fine optimisation that carries the
    style's texture, its own step count), "optimization" (Gatys, slow, `steps` L-BFGS steps), "adain" (one
    pass, any style), or the name of a per-style network (one pass, its own style; `style` may be empty).
    styles: more style images, mixed with `style` by style_weights (comma-separated, one per style image,
    normalised to sum to 1). strength 0-1. size: the output's longer side in px.
    preserve_colors: keep the content's colours. mask: an image of the content's proportions, white where to
    stylise. seed: for noise and repeatability.
    """
    if file_path(content) is None:
        raise StudioError("give a content image")

    def work(emit, cancelled):
        return stylize(file_path(content), file_path(style), method=method or None, styles=file_paths(styles),
                       style_weights=style_weights or None, strength=strength if strength is not None else 1.0,
                       size=DEFAULT_SIZE if size is None else size, steps=DEFAULT_STEPS if steps is None else steps,
                       preserve_colors=bool(preserve_colors), mask=file_path(mask), seed=0 if seed is None else seed,
                       progress=throttled(lambda f, m: emit("progress", (f, m))), cancel=cancelled)

    # A generator, so a client's cancel closes it and the optimisation ends after its current step.
    for kind, value in stream_work(work):
        if kind == "progress":
            progress(value[0], desc=value[1])
        # The gallery id lets a script rate the picture it just made (/rate).
        yield (str(value.path), {**value.parameters, "gallery_id": value.gallery_id}) if kind == "done" else gr.skip()


def _mask_from_editor(editor) -> Image.Image | None:
    """The painted strokes of a gr.ImageEditor value (all layers) as a white-on-black mask, or None."""
    if not editor or not isinstance(editor, dict):
        return None
    layers = [np.asarray(layer) for layer in (editor.get("layers") or []) if layer is not None]
    layers = [a for a in layers if a.ndim == 3 and a.shape[2] == 4]
    if not layers:
        return None
    alpha = np.max(np.stack([a[..., 3] for a in layers]), axis=0)
    if alpha.max() == 0:
        return None
    return Image.fromarray(alpha.astype(np.uint8), mode="L")


# Stop asks a running stylisation to finish early: optimisation then ends after its current step and its
# result so far becomes the result (saved, downloadable, marked as stopped), which a cancel would throw away.
_finish_early: dict[str, threading.Event] = {}


def _stylize_live(content, style, extra_styles, weights, method, strength, size, steps, preserve_colors,
                  mask_editor, mask_file, seed, request: gr.Request):
    """The Stylize button: runs in a worker thread and streams previews; Stop finishes it early."""
    if content is None:
        raise StudioError("add a content image (or pick an example below)")
    mask = file_path(mask_file) or _mask_from_editor(mask_editor)
    seed = number_or_default(seed)
    finish = _finish_early[request.session_hash] = threading.Event()

    def work(emit, cancelled):
        return stylize(content, style, method=method or None, styles=file_paths(extra_styles),
                       style_weights=weights or None, strength=strength, size=size, steps=steps,
                       preserve_colors=preserve_colors, mask=mask, seed=0 if seed is None else seed,
                       progress=throttled(lambda f, m: emit("progress", f"{f:.0%} · {m}")),
                       preview=lambda im, step, total: emit("preview", im),
                       cancel=lambda: cancelled() or finish.is_set())

    skip = gr.skip()
    try:
        for kind, value in stream_work(work):  # leaving the page closes this generator and ends the work too
            if kind == "progress":
                yield skip, skip, skip, skip, f"**Working**: {value}", *(skip,) * 5
            elif kind == "preview":
                yield value, *(skip,) * 9
            elif kind == "done":
                params = {**value.parameters, "gallery_id": value.gallery_id}
                note = (f" (stopped at step {params['stopped_at_step']}; this is the result so far)"
                        if "stopped_at_step" in params else "")
                yield (str(value.path), str(value.path), params,
                       key_values(params, skip=("studio_version", "gallery_id")),
                       f"**Done** in {params['seconds']} s{note}",
                       *rating_updates([("the picture", value.gallery_id)]))
            else:
                yield skip
    finally:
        if _finish_early.get(request.session_hash) is finish:
            del _finish_early[request.session_hash]


def _request_finish(request: gr.Request) -> str:
    flag = _finish_early.get(request.session_hash)
    if flag is None:
        return gr.skip()
    flag.set()
    return "**Stopping** after the current step; the result so far will be kept."


@user_errors
def train_style(name: str, style, content_files=None, steps: int = 2000, image_size: int = 128,
                style_weight: float | None = None, seed: int = 0):
    """Start training a per-style network for one style image, in the background; content images are your
    uploads, or the installed photos when none are given. Watch it with /job_status; when it completes, its
    name is a `method` of /stylize. Returns the job id and its status."""
    if file_path(style) is None:
        raise StudioError("upload the style image the network should learn")
    result = start_training("style", name, style=file_path(style), files=file_paths(content_files) or None,
                            steps=steps, image_size=image_size,
                            style_weight=None if style_weight in (None, "") else style_weight, seed=seed or 0)
    return result["job"], result["status"]


def _train_style_from_ui(name, style, content_files, steps, image_size, style_weight, seed):
    job, status = train_style.__wrapped__(name, style, content_files, steps, image_size,
                                          number_or_default(style_weight), seed)
    return job, status, propose_name("style")


def _example_files() -> list[list[str]]:
    """Installed example images written once as PNGs (Gradio examples are files)."""
    folder = environment().home / "examples"
    folder.mkdir(parents=True, exist_ok=True)
    images = example_images()
    rows = []
    for content, style in EXAMPLES:
        if style not in images:
            style = "gravel"  # mypaint-data-extras not installed: another installed texture
        row = []
        for name in (content, style):
            path = folder / f"{name}.png"
            if not path.is_file():
                im = images[name].load()
                im.thumbnail((512, 512))
                im.save(path)
            row.append(str(path))
        rows.append(row)
    return rows


def _first_result(content: str, style: str) -> tuple[str | None, dict | None]:
    """A stylised example for the tab's first open, with a fast method only (never minutes of optimisation).

    Made once per STUDIO_HOME and kept beside the example images (named after the method and the model's
    creation time, so a retrained model makes a new one): building the app then needs no model on later
    starts, about three seconds sooner on a 2-core CPU."""
    fast = [m for m in available_methods() if m != "optimization"]
    if not fast:
        return None, None
    method = fast[0]
    record = next((r for r in list_models() if r["name"] == method), None)
    stamp = hashlib.sha256(f"{method} {record and record.get('created')} {content} {style}".encode()).hexdigest()[:12]
    folder = environment().home / "examples" / f"first-result-{stamp}"
    saved = folder / "parameters.json"
    if saved.is_file():
        params = json.loads(saved.read_text(encoding="utf-8"))
        if Path(params.get("path", "")).is_file():
            return params.pop("path"), params
    try:
        result = stylize(content, style, method=method, size=256, out_dir=folder, gallery=False)  # an example
    except StudioError:
        return None, None
    saved.write_text(json.dumps({**result.parameters, "path": str(result.path)}), encoding="utf-8")
    return str(result.path), result.parameters


def _network_note() -> str:
    methods = available_methods()
    nets = [m for m in methods if m not in ("optimization", "fast-optimization", "adain")]
    return (f"Optimisation measures style with **{feature_network_in_use()}**. "
            f"AdaIN: {'installed' if 'adain' in methods else 'no decoder installed'}. "
            f"Per-style networks: {', '.join(nets) or 'none yet (train one below)'}.")


def _gallery_path(item) -> str | None:
    """The file of a Generate gallery item, as gr.SelectData gives it."""
    if isinstance(item, dict):
        return (item.get("image") or {}).get("path")
    return item[0] if isinstance(item, (list, tuple)) else item


def _use_generated(selected):
    path = _gallery_path(selected)
    if not path:
        raise gr.Error("click an image in the Generate tab's gallery first, then come back here")
    return path


def build(demo: gr.Blocks, generate_gallery: gr.Gallery | None = None, tab: gr.Tab | None = None) -> None:
    examples = _example_files()
    first_content, first_style = examples[0]
    first_out, first_params = _first_result(first_content, first_style)
    methods = available_methods()
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=340):
            with gr.Row(equal_height=True):
                content = gr.Image(first_content, type="filepath", image_mode=None, label="Content image",
                                   height=210, elem_id="style-content")
                style = gr.Image(first_style, type="filepath", image_mode=None, label="Style image",
                                 height=210, elem_id="style-style")
            if generate_gallery is not None:
                from_generate = gr.Button("Use the image selected in the Generate tab as content", size="sm",
                                          elem_id="style-from-generate")
                selected = gr.State(None)
                generate_gallery.select(selected_value, None, selected, api_visibility="private", queue=False)
                ui_event(from_generate.click, _use_generated, selected, content, queue=False,
                         show_progress="hidden")
            method = gr.Dropdown(methods, value=default_method(), label="Method",
                                 info="fast-optimization: seconds, carries texture; adain: one pass, any style; "
                                      "optimization: slow, finest; others: per-style networks",
                                 elem_id="style-method")
            with gr.Row():
                run = gr.Button("Stylize", variant="primary", elem_id="style-button", scale=2, min_width=100)
                stop = gr.Button("Stop", variant="stop", elem_id="style-stop", scale=1, min_width=60)
            strength = gr.Slider(0, 1, value=1.0, step=0.05, label="Strength", elem_id="style-strength")
            with gr.Accordion("More settings", open=False):
                size = gr.Slider(64, MAX_SIZE, value=DEFAULT_SIZE, step=32, label="Size (longer side, px)",
                                 elem_id="style-size")
                steps = gr.Slider(1, MAX_STEPS, value=DEFAULT_STEPS, step=1, label="Steps (optimisation)",
                                  elem_id="style-steps")
                preserve = gr.Checkbox(False, label="Preserve the content's colours", elem_id="style-preserve")
                seed = gr.Number(0, precision=0, label="Seed", info="empty: 0", elem_id="style-seed")
            with gr.Accordion("More style images (blend)", open=False):
                extra = gr.File(label="Further style images", file_count="multiple", file_types=["image"],
                                elem_id="style-extra")
                weights = gr.Textbox(label="Blend weights", placeholder="e.g. 0.6, 0.4 (style image first)",
                                     elem_id="style-weights")
            with gr.Accordion("Mask: stylise only part of the image", open=False):
                mask_editor = gr.ImageEditor(type="numpy", label="Paint the region to stylise",
                                             brush=gr.Brush(colors=["#ffffff"], default_size=24),
                                             elem_id="style-mask-editor")
                mask_file = gr.Image(type="filepath", image_mode=None, label="...or upload a mask (white = stylise)",
                                     elem_id="style-mask-file")
            note = gr.Markdown(_network_note(), elem_id="style-network")
        with gr.Column(scale=2, elem_id="style-outputs"):
            status = gr.Markdown("An example, stylised with AdaIN. Press **Stylize** to make your own."
                                 if first_out else "Press **Stylize**.", elem_id="style-status",
                                 elem_classes=["status-line"])
            live = gr.Image(first_out, label="Result (live preview while optimising)", format="png",
                            interactive=False, height=420, elem_id="style-result", elem_classes=["fill-image"])
            rating = rating_row("style")
            with gr.Row(equal_height=False):
                png = gr.File(first_out, label="Download PNG (parameters embedded)", interactive=False,
                              elem_id="style-png")
                with gr.Column():
                    table = gr.HTML(key_values(first_params, skip=("studio_version",)), elem_id="style-table")
                    with gr.Accordion("Parameters as JSON", open=False):
                        info = gr.JSON(first_params, label="Parameters", elem_id="style-info")
            gr.Examples(examples, [content, style], label="Examples (installed images)")
    with gr.Accordion("Train a per-style network (background job; watch it in the Train tab)", open=False):
        with gr.Row():
            t_name = gr.Textbox(propose_name("style"), label="Name", elem_id="style-train-name")
            t_style = gr.Image(first_style, type="filepath", image_mode=None, label="Style image",
                               elem_id="style-train-style")
            t_content = gr.File(label="Content images (empty: the installed photos)", file_count="multiple",
                                file_types=["image"], elem_id="style-train-content")
        with gr.Row():
            t_steps = gr.Number(2000, precision=0, label="Steps", elem_id="style-train-steps")
            t_size = gr.Dropdown([64, 96, 128, 160, 192, 256], value=128, label="Training size (px)")
            t_weight = gr.Textbox("", label="Style weight", placeholder="empty: the default",
                                  elem_id="style-train-weight")
            t_seed = gr.Number(0, precision=0, label="Seed")
            t_button = gr.Button("Start training", elem_id="style-train-button")
        t_job = gr.Textbox(label="Job", interactive=False, elem_id="style-train-job")
        t_status = gr.JSON(label="Status")

    # The mask painter starts from the content image.
    ui_event(content.change, lambda c: gr.update(value={"background": c, "layers": [], "composite": c} if c else None),
             content, mask_editor, queue=False, show_progress="hidden")
    ui_event(run.click, _stylize_live, [content, style, extra, weights, method, strength, size, steps, preserve,
                                        mask_editor, mask_file, seed],
             [live, png, info, table, status, *rating.outputs],
             concurrency_id=COMPUTE, show_progress_on=[live])
    stop.click(_request_finish, None, status, api_visibility="private", queue=False)
    ui_event(t_button.click, _train_style_from_ui, [t_name, t_style, t_content, t_steps, t_size, t_weight, t_seed],
             [t_job, t_status, t_name], concurrency_id=COMPUTE)
    with gr.Row(visible=False):
        a_train = [gr.Textbox(label="name"), gr.Image(type="filepath", label="style"),
                   gr.File(file_count="multiple", label="content_files"), gr.Number(2000, precision=0, label="steps"),
                   gr.Number(128, precision=0, label="image_size"), gr.Number(None, label="style_weight"),
                   gr.Number(0, precision=0, label="seed")]
        a_train_button = gr.Button("train style")
    a_train_button.click(train_style, a_train, [t_job, t_status], api_name="train_style", concurrency_id=COMPUTE)

    # Public endpoint: plain files in (so non-images get a clear message), the PNG and parameters out.
    with gr.Row(visible=False):
        api_inputs = [gr.File(label="content"), gr.File(label="style"), gr.Textbox(None, label="method"),
                      gr.File(label="styles", file_count="multiple"), gr.Textbox(None, label="style_weights"),
                      gr.Number(1.0, label="strength"), gr.Number(DEFAULT_SIZE, precision=0, label="size"),
                      gr.Number(DEFAULT_STEPS, precision=0, label="steps"),
                      gr.Checkbox(False, label="preserve_colors"), gr.File(label="mask"),
                      gr.Number(0, precision=0, label="seed")]
        api_png = gr.File(label="png")  # a file, not an image component: the PNG's bytes (and parameters) stay
        api_info = gr.JSON(label="parameters")
        api_button = gr.Button("stylize")
    api_button.click(stylize_api, api_inputs, [api_png, api_info], api_name="stylize", concurrency_id=COMPUTE)

    def refresh(current):
        names = available_methods()
        return gr.update(choices=names, value=current if current in names else default_method()), _network_note()

    demo.load(refresh, method, [method, note], api_visibility="private", queue=False)
    if tab is not None:
        tab.select(refresh, method, [method, note], api_visibility="private", queue=False)
