"""Style tab and the `/stylize` and `/train_style` endpoints: neural style transfer with three methods.

The interactive button streams previews while optimisation runs (a Stop button cancels it and keeps the
result so far); the public endpoints take plain files so that scripts get clear messages for any input.
"""
from __future__ import annotations

import tempfile
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
from ..services.training import start_training
from .common import (
    COMPUTE,
    file_path,
    file_paths,
    selected_value,
    stream_work,
    user_errors,
)

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

    method: "optimization" (Gatys, slow, `steps` L-BFGS steps), "adain" (one pass, any style), or the name of a
    per-style network (one pass, its own style; `style` may be empty); empty picks AdaIN when a decoder is
    installed, else optimisation. styles: more style images, mixed with `style` by style_weights (comma-separated,
    one per style image, normalised to sum to 1). strength 0-1. size: the output's longer side in px.
    preserve_colors: keep the content's colours. mask: an image of the content's proportions, white where to
    stylise. seed: for noise and repeatability.
    """
    if file_path(content) is None:
        raise StudioError("give a content image")
    result = stylize(file_path(content), file_path(style), method=method or None, styles=file_paths(styles),
                     style_weights=style_weights or None, strength=strength if strength is not None else 1.0,
                     size=DEFAULT_SIZE if size is None else size, steps=DEFAULT_STEPS if steps is None else steps,
                     preserve_colors=bool(preserve_colors), mask=file_path(mask), seed=0 if seed is None else seed,
                     progress=lambda f, m: progress(f, desc=m))
    return str(result.path), result.parameters


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


def _stylize_live(content, style, extra_styles, weights, method, strength, size, steps, preserve_colors,
                  mask_editor, mask_file, seed):
    """The Stylize button: runs in a worker thread and streams previews; Stop (or leaving) cancels it."""
    if content is None:
        raise gr.Error("add a content image (or pick an example below)")
    mask = file_path(mask_file) or _mask_from_editor(mask_editor)

    def work(emit, cancelled):
        return stylize(content, style, method=method or None, styles=file_paths(extra_styles),
                       style_weights=weights or None, strength=strength, size=size, steps=steps,
                       preserve_colors=preserve_colors, mask=mask, seed=seed,
                       progress=lambda f, m: emit("progress", f"{f:.0%} · {m}"),
                       preview=lambda im, step, total: emit("preview", im), cancel=cancelled)

    for kind, value in stream_work(work):  # Stop (or leaving the page) ends the optimisation after its step
        if kind == "progress":
            yield gr.skip(), gr.skip(), gr.skip(), value
        elif kind == "preview":
            yield value, gr.skip(), gr.skip(), gr.skip()
        else:
            note = " (stopped early)" if "stopped_at_step" in value.parameters else ""
            yield str(value.path), str(value.path), value.parameters, f"done in {value.parameters['seconds']} s{note}"


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
    """A stylised example for the tab's first open, with a fast method only (never minutes of optimisation)."""
    fast = [m for m in available_methods() if m != "optimization"]
    if not fast:
        return None, None
    try:
        result = stylize(content, style, method=fast[0], size=256, out_dir=Path(tempfile.mkdtemp(prefix="studio-style-")),
                          gallery=False)  # an example, not the artist's work
    except StudioError:
        return None, None
    return str(result.path), result.parameters


def _network_note() -> str:
    methods = available_methods()
    nets = [m for m in methods if m not in ("optimization", "adain")]
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


def build(demo: gr.Blocks, generate_gallery: gr.Gallery | None = None) -> None:
    examples = _example_files()
    first_content, first_style = examples[0]
    first_out, first_params = _first_result(first_content, first_style)
    methods = available_methods()
    note = gr.Markdown(_network_note(), elem_id="style-network")
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            content = gr.Image(first_content, type="filepath", image_mode=None, label="Content image",
                               elem_id="style-content")
            if generate_gallery is not None:
                from_generate = gr.Button("Use the image selected in the Generate tab", size="sm",
                                          elem_id="style-from-generate")
                selected = gr.State(None)
                generate_gallery.select(selected_value, None, selected, api_visibility="private", queue=False)
                from_generate.click(_use_generated, selected, content, api_visibility="private", queue=False)
            style = gr.Image(first_style, type="filepath", image_mode=None, label="Style image",
                             elem_id="style-style")
            with gr.Accordion("More style images (blend)", open=False):
                extra = gr.File(label="Further style images", file_count="multiple", file_types=["image"],
                                elem_id="style-extra")
                weights = gr.Textbox(label="Blend weights", placeholder="e.g. 0.6, 0.4 (style image first)",
                                     elem_id="style-weights")
            method = gr.Dropdown(methods, value=default_method(), label="Method",
                                 info="adain: one pass, any style; optimization: slow, finest; others: per-style "
                                      "networks", elem_id="style-method")
            strength = gr.Slider(0, 1, value=1.0, step=0.05, label="Strength", elem_id="style-strength")
            size = gr.Slider(64, MAX_SIZE, value=DEFAULT_SIZE, step=32, label="Size (longer side, px)",
                             elem_id="style-size")
            steps = gr.Slider(1, MAX_STEPS, value=DEFAULT_STEPS, step=1, label="Steps (optimisation)",
                              elem_id="style-steps")
            preserve = gr.Checkbox(False, label="Preserve the content's colours", elem_id="style-preserve")
            seed = gr.Number(0, precision=0, label="Seed", elem_id="style-seed")
            with gr.Accordion("Mask: stylise only part of the image", open=False):
                mask_editor = gr.ImageEditor(type="numpy", label="Paint the region to stylise",
                                             brush=gr.Brush(colors=["#ffffff"], default_size=24),
                                             elem_id="style-mask-editor")
                mask_file = gr.Image(type="filepath", image_mode=None, label="...or upload a mask (white = stylise)",
                                     elem_id="style-mask-file")
            with gr.Row():
                run = gr.Button("Stylize", variant="primary", elem_id="style-button")
                stop = gr.Button("Stop", variant="stop", elem_id="style-stop")
        with gr.Column(scale=2):
            live = gr.Image(first_out, label="Result (live preview while optimising)", format="png",
                            interactive=False, elem_id="style-result")
            status = gr.Markdown("", elem_id="style-status")
            png = gr.File(first_out, label="Download PNG (parameters embedded)", elem_id="style-png")
            info = gr.JSON(first_params, label="Parameters", elem_id="style-info")
            gr.Examples(examples, [content, style], label="Examples (installed images)")
    with gr.Accordion("Train a per-style network (background job; watch it in the Train tab)", open=False):
        with gr.Row():
            t_name = gr.Textbox(label="Name", placeholder="my-style", elem_id="style-train-name")
            t_style = gr.Image(type="filepath", image_mode=None, label="Style image", elem_id="style-train-style")
            t_content = gr.File(label="Content images (empty: the installed photos)", file_count="multiple",
                                file_types=["image"], elem_id="style-train-content")
        with gr.Row():
            t_steps = gr.Number(2000, precision=0, label="Steps", elem_id="style-train-steps")
            t_size = gr.Dropdown([64, 96, 128, 160, 192, 256], value=128, label="Training size (px)")
            t_weight = gr.Number(None, label="Style weight (empty: default)")
            t_seed = gr.Number(0, precision=0, label="Seed")
            t_button = gr.Button("Start training", elem_id="style-train-button")
        t_job = gr.Textbox(label="Job", interactive=False, elem_id="style-train-job")
        t_status = gr.JSON(label="Status")

    # The mask painter starts from the content image.
    content.change(lambda c: gr.update(value={"background": c, "layers": [], "composite": c} if c else None),
                   content, mask_editor, api_visibility="private", queue=False)
    event = run.click(user_errors(_stylize_live), [content, style, extra, weights, method, strength, size, steps,
                                                   preserve, mask_editor, mask_file, seed],
                      [live, png, info, status], api_visibility="private", concurrency_id=COMPUTE)
    stop.click(None, cancels=[event], api_visibility="private")
    t_button.click(train_style, [t_name, t_style, t_content, t_steps, t_size, t_weight, t_seed], [t_job, t_status],
                   api_name="train_style", concurrency_id=COMPUTE)

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
