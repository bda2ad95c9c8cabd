"""Neural style transfer: the function behind the Style tab, `/stylize` and scripts.

Methods:
- "optimization": Gatys et al., the image itself is optimised (slow, any style, best quality per style;
  `studio.style.optimize`);
- "fast-optimization" (the default): the same optimisation with a short coarse-to-fine schedule
  (FAST_STEPS L-BFGS steps, about 2 s at 512 px on two CPU cores). Measured with a texture statistic no
  method here optimises (`studio.vision.texture`, benchmarks/style.py), it carries the style's texture,
  where the AdaIN decoder shipped here carries its colours but leaves the texture as far from the style
  as the photo's;
- "adain": one forward pass for any style image, with an AdaIN decoder from the registry
  (`studio.families.adain`);
- the name of a per-style network in the registry (`studio.families.style`): one forward pass, one style.
With no method given: "fast-optimization". This module reads the inputs,
chooses the method, applies colour preservation and masks around it, and saves the PNG.

Every result is a PNG carrying its parameters (`studio.core.media.save_png`).
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from .. import __version__
from ..core.errors import StudioError, check_number
from ..core.images import open_image
from ..core.media import save_png, to_pil
from ..core.outputs import new_output_dir
from ..core.registry import default_registry
from ..core.seeds import check_seed
from ..data.examples import installed_images
from ..style.losses import (
    apply_mask,
    keep_colors,
    luminance,
    match_luminance,
    soften_mask,
)
from ..style.optimize import optimize
from ..vision.features import StyleNetwork, style_network
from .gallery import save_to_gallery
from .models import load_model
from .zerogpu import on_gpu

BUILTIN_METHODS = ("optimization", "adain", "fast-optimization")
DEFAULT_METHOD = "fast-optimization"
# Steps of "fast-optimization": on astronaut + immunohistochemistry at 512 px, 20 steps (10 at 256 px, 10 at
# 512) move the texture statistic from the photo's 0.151 to 0.110, and 40 steps reach no further (0.110);
# AdaIN's output stays at 0.147 (benchmarks/results/style.md).
FAST_STEPS = 20
MIN_SIZE, MAX_SIZE = 64, 2048          # output's longer side, px
MAX_OPTIMIZATION_SIZE = 1024           # optimisation is minutes per image above this on a CPU
MAX_STEPS = 2000
MIN_STYLE_SIDE = 32                    # smaller style images hold too little texture to transfer
STYLE_WORKING_SIDE = 1024              # style images are downscaled to this (longer side) right after decoding


@dataclass
class Stylized:
    path: Path                          # the PNG, parameters embedded
    parameters: dict
    image: Image.Image
    history: list[dict] = field(default_factory=list)  # optimisation: losses per step
    gallery_id: str | None = None  # the PNG's item in the gallery


ImageInput = "str | Path | Image.Image | np.ndarray"


# -- reading inputs ---------------------------------------------------------------------------------------

def _open(value, role: str) -> tuple[Image.Image, str]:
    """Decode an image given as a path, PIL image or array; returns it with a short hash of its pixels."""
    if value is None:
        raise StudioError(f"give a {role} image")
    if isinstance(value, np.ndarray):
        value = Image.fromarray(value.astype(np.uint8) if value.dtype != np.uint8 else value)
    if isinstance(value, Image.Image):
        im = value
    else:
        path = Path(str(value))
        if not path.is_file():
            raise StudioError(f"the {role} image file {path.name!r} was not found")
        try:
            # JPEG decodes straight at a reduced scale: a huge photo never needs its full pixels in memory.
            im = open_image(path, working_side=STYLE_WORKING_SIDE)
        except StudioError as exc:
            if str(exc) == "not an image file":
                raise StudioError(f"the {role} file {path.name!r} is not an image (use PNG, JPEG or WebP)") from None
            raise StudioError(f"the {role} file {path.name!r} cannot be used: {exc}") from None
    digest = hashlib.sha256(im.tobytes()).hexdigest()[:12]
    return im, digest


def _flatten(im: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """RGB version of any image (grey, palette, RGBA ...) and its alpha channel if it has one.
    Transparent parts are filled with white before stylising; the alpha is put back on the result."""
    if im.mode in ("P", "PA") or (im.mode in ("L", "RGB") and "transparency" in im.info):
        im = im.convert("RGBA")
    alpha = None
    if im.mode in ("RGBA", "LA", "La", "RGBa"):
        rgba = im.convert("RGBA")
        alpha = rgba.getchannel("A")
        base = Image.new("RGB", im.size, (255, 255, 255))
        base.paste(rgba, mask=alpha)
        im = base
    return im.convert("RGB"), alpha


def _tensor(im: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(im, dtype=np.uint8).copy()).permute(2, 0, 1)[None].float() / 255


def _fit(im: Image.Image, longer: int) -> Image.Image:
    scale = longer / max(im.size)
    size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
    return im if size == im.size else im.resize(size, Image.Resampling.LANCZOS)


def load_content(value, size: int) -> tuple[torch.Tensor, Image.Image | None, str]:
    im, digest = _open(value, "content")
    if min(im.size) < 8:
        raise StudioError(f"the content image is {im.width}x{im.height}; it needs at least 8 px on each side")
    rgb, alpha = _flatten(im)
    rgb = _fit(rgb, size)
    if alpha is not None:
        alpha = alpha.resize(rgb.size, Image.Resampling.LANCZOS)
    return _tensor(rgb), alpha, digest


def load_style(value, role: str = "style") -> tuple[torch.Tensor, str, str]:
    """A style image as (1, 3, h, w), at most STYLE_WORKING_SIDE px on its longer side; plus its hash and a
    note for the user when it was scaled down."""
    im, digest = _open(value, role)
    if min(im.size) < MIN_STYLE_SIDE:
        raise StudioError(f"the {role} image is only {im.width}x{im.height} px; a style image needs at least "
                          f"{MIN_STYLE_SIDE}x{MIN_STYLE_SIDE} px of texture to transfer")
    rgb, _ = _flatten(im)
    note = ""
    if max(rgb.size) > STYLE_WORKING_SIDE:
        note = f"{role} image scaled down from {im.width}x{im.height} to fit {STYLE_WORKING_SIDE} px"
        rgb = _fit(rgb, STYLE_WORKING_SIDE)
    return _tensor(rgb), digest, note


def load_mask(value, content_hw: tuple[int, int]) -> torch.Tensor:
    """A mask as (1, 1, H, W) in [0, 1] at the content's size: white (or painted, opaque) = stylise.

    A mask with an alpha channel that is not fully opaque (a painted layer) uses its alpha; otherwise its
    brightness. Masks of the content's proportions are resized; other proportions are refused.
    """
    im, _ = _open(value, "mask")
    if "A" in im.getbands() or im.mode in ("P",) and "transparency" in im.info:
        rgba = im.convert("RGBA")
        a = rgba.getchannel("A")
        m = a if a.getextrema()[0] < 255 else rgba.convert("L")
    else:
        m = im.convert("L")
    h, w = content_hw
    if abs(m.width / m.height - w / h) > 0.02 * (w / h):
        raise StudioError(f"the mask is {m.width}x{m.height} but the content image has the proportions "
                          f"{w}x{h}; paint the mask on the content image or give one of the same proportions")
    m = m.resize((w, h), Image.Resampling.BILINEAR)
    mask = torch.from_numpy(np.asarray(m, dtype=np.float32) / 255)[None, None]
    if mask.max() < 0.01:
        raise StudioError("the mask is empty: paint (or make white) the region to stylise")
    return mask


def blend_weights(count: int, weights) -> list[float]:
    """Weights for `count` style images: equal when not given; refused when negative or all zero;
    otherwise normalised to sum to 1."""
    if weights is None or (isinstance(weights, (list, tuple)) and len(weights) == 0):
        return [1.0 / count] * count
    if isinstance(weights, str):
        try:
            weights = [float(w) for w in weights.replace(";", ",").split(",") if w.strip()]
        except ValueError:
            raise StudioError(f"style weights must be numbers separated by commas; got {weights!r}") from None
    weights = [float(w) for w in weights]
    if len(weights) != count:
        raise StudioError(f"{count} style image(s) but {len(weights)} weight(s); give one weight per style image")
    if any(not np.isfinite(w) for w in weights):
        raise StudioError("style weights must be finite numbers")
    if any(w < 0 for w in weights):
        raise StudioError(f"style weights cannot be negative; got {weights}")
    total = sum(weights)
    if total <= 0:
        raise StudioError("at least one style weight must be above 0")
    return [w / total for w in weights]


# -- methods ----------------------------------------------------------------------------------------------

def available_methods() -> list[str]:
    """"optimization", "adain" when an AdaIN decoder is installed, "fast-optimization", then every per-style
    network by name."""
    registry = default_registry()
    methods = ["optimization"]
    if registry.list(family="adain"):
        methods.append("adain")
    return methods + ["fast-optimization"] + [r.name for r in registry.list(family="style")]


def example_images(kind: str | None = None) -> dict:
    """Images installed with the studio's packages, by name ("photo" or "texture" `kind`, or all)."""
    return {n: i for n, i in installed_images().items() if kind is None or i.kind == kind}


def default_method() -> str:
    return DEFAULT_METHOD


def feature_network_in_use() -> str:
    """The network optimisation uses now, for people: VGG19 when its weights are available, else
    EfficientNet-Lite0."""
    return style_network().title


def _resolve_method(method: str | None) -> tuple[str, str | None]:
    """(kind, registry model name): kind is "optimization", "adain" or "network"."""
    method = (method or "").strip() or default_method()
    registry = default_registry()
    if method in ("optimization", "fast-optimization"):
        return "optimization", None
    if method == "adain":
        decoders = registry.list(family="adain")
        if not decoders:
            raise StudioError("no AdaIN decoder is installed; use method 'optimization' or train one (Train tab)")
        return "adain", decoders[0].name
    for record in registry.list(kind="style"):
        if record.name == method:
            return ("adain" if record.family == "adain" else "network"), record.name
    raise StudioError(f"unknown method {method!r}; choose one of {', '.join(available_methods())}")


@on_gpu  # ZeroGPU Spaces lend the GPU per call (services/zerogpu.py)
def stylize(content, style=None, method: str | None = None, styles: list | None = None,
            style_weights=None, strength: float = 1.0, size: int = 512, steps: int = 200,
            preserve_colors: bool = False, mask=None, seed: int = 0, *,
            optimizer: str = "lbfgs", init: str = "content", tv_weight: float = 1e-3,
            progress: Callable[[float, str], None] | None = None,
            preview: Callable[[Image.Image, int, int], None] | None = None, preview_every: int = 10,
            cancel: Callable[[], bool] | None = None, out_dir: Path | None = None, gallery: bool = True) -> Stylized:
    """Stylise `content` with `style` (plus `styles`, mixed by `style_weights`) and save a PNG.

    content, style, styles, mask: file paths, PIL images or uint8 arrays (H, W[, C]).
    strength 0..1: optimisation scales the style weight, AdaIN blends features (alpha), per-style networks
    blend pixels. size: the output's longer side in px. steps: optimisation steps (1..2000; feed-forward
    methods and fast-optimization, which takes FAST_STEPS, ignore it). preserve_colors: keep the content's colours (luminance-only transfer). mask: stylise
    only where it is white/painted, with a soft edge. progress(fraction, message), preview(image, step,
    total) every `preview_every` steps, cancel() -> True stops optimisation early (the result so far is
    returned and says so in its parameters).
    """
    t0 = time.perf_counter()
    strength = check_number("strength", strength, 0.0, 1.0)
    size = check_number("size", size, MIN_SIZE, MAX_SIZE, whole=True)
    steps = check_number("steps", steps, 1, MAX_STEPS, whole=True)
    seed = check_seed(seed)
    if optimizer not in ("lbfgs", "adam"):
        raise StudioError("optimizer must be 'lbfgs' or 'adam'")
    if init not in ("content", "noise"):
        raise StudioError("init must be 'content' or 'noise'")
    kind, model_name = _resolve_method(method)
    fast = (method or "").strip() in ("", "fast-optimization")
    if fast:
        steps = FAST_STEPS
    if kind == "optimization" and size > MAX_OPTIMIZATION_SIZE:
        raise StudioError(f"optimisation makes images up to {MAX_OPTIMIZATION_SIZE} px; use AdaIN or a "
                          "per-style network (tiled) for larger ones")
    say = progress or (lambda fraction, message: None)
    say(0.0, "reading images")
    content_t, alpha, content_hash = load_content(content, size)
    mask_t = load_mask(mask, content_t.shape[-2:]) if mask is not None else None
    extra = [s for s in (styles or []) if s is not None and s != ""]
    notes: list[str] = []
    style_ts, style_hashes = [], []
    if kind != "network":
        if style is None and not extra:
            raise StudioError("give a style image")
        for i, s in enumerate(([style] if style is not None else []) + extra):
            t, digest, note = load_style(s, "style" if i == 0 else f"style {i + 1}")
            style_ts.append(t)
            style_hashes.append(digest)
            if note:
                notes.append(note)
        weights = blend_weights(len(style_ts), style_weights)
    else:
        if extra:
            raise StudioError(f"{model_name!r} is a per-style network: it has its one style built in; use "
                              "AdaIN or optimisation to mix several style images")
        weights = []
    torch.manual_seed(seed)

    shown = "fast-optimization" if fast else (kind if kind != "network" else model_name)
    params = {"model": f"neural style transfer ({shown})", "method": "fast-optimization" if fast else kind,
              "strength": strength, "size": size, "preserve_colors": bool(preserve_colors),
              "mask": mask_t is not None, "seed": seed, "content": content_hash, "styles": style_hashes,
              "style_weights": [round(w, 6) for w in weights], "studio_version": __version__}
    history: list[dict] = []
    stopped = False
    if kind == "optimization":
        network = style_network()
        params.update(steps=steps, optimizer=optimizer, init=init, tv_weight=tv_weight,
                      feature_network=network.name, style_weight=network.style_weight * strength)
        out, history, stopped = _run_optimization(content_t, style_ts, weights, network, steps, strength, optimizer,
                                                  init, tv_weight, seed, preserve_colors, say, preview,
                                                  preview_every, cancel)
    else:
        loaded = load_model(model_name)
        params.update(style_model=model_name, weights=loaded.weights_hash,
                      feature_network=loaded.meta["config"].get("encoder", "") if kind == "adain" else "")
        say(0.1, f"stylising with {model_name}")
        tiles = lambda done, total: say(0.1 + 0.9 * done / total, f"tile {done} of {total}")  # noqa: E731
        if kind == "adain":
            # Colour preservation (Gatys et al. 2016): transfer on luminance only, then put the colours back.
            source = luminance(content_t) if preserve_colors else content_t
            styles_in = [match_luminance(s, content_t) for s in style_ts] if preserve_colors else style_ts
            out = loaded.family.stylize(loaded, source, styles_in, weights, strength, progress=tiles)
        else:
            out = loaded.family.stylize(loaded, content_t, strength, progress=tiles)
        if preserve_colors:
            out = keep_colors(out, content_t)
    if mask_t is not None:
        radius = max(1, round(max(out.shape[-2:]) / 100))  # a soft edge about 1% of the image wide
        out = apply_mask(out, content_t, soften_mask(mask_t, radius))
    if stopped:
        params["stopped_at_step"] = len(history)
    if notes:
        params["notes"] = notes
    params["seconds"] = round(time.perf_counter() - t0, 2)
    image = to_pil(out[0])
    if alpha is not None:
        image.putalpha(alpha.resize(image.size))
    folder = Path(out_dir) if out_dir else new_output_dir("style")
    path = save_png(image, folder / f"stylized-{kind if kind != 'network' else model_name}-seed{seed}.png", params)
    item = save_to_gallery("style", [path], params, model=model_name or kind, seed=seed) if gallery else None
    say(1.0, "done")
    return Stylized(path, params, image, history, item)


def _run_optimization(content, styles, weights, network: StyleNetwork, steps, strength, optimizer, init,
                      tv_weight, seed, preserve_colors, say, preview, preview_every, cancel):
    if preserve_colors:  # Gatys et al. 2016: transfer on luminance only, then put the content's colours back
        source, styles_in = luminance(content), [match_luminance(s, content) for s in styles]
    else:
        source, styles_in = content, styles

    def callback(step):
        say(step.step / step.total, f"step {step.step} of {step.total} at {step.size[1]}x{step.size[0]} px, "
                                    f"style {step.losses['style']:.3g}, content {step.losses['content']:.3g}")
        if preview is not None and (step.step % max(1, preview_every) == 0 or step.step == step.total):
            img = step.image()
            if preserve_colors:
                img = keep_colors(img, content)
            preview(to_pil(img[0]), step.step, step.total)

    result = optimize(source, styles_in, weights, network, steps=steps,
                      style_weight=network.style_weight * strength, tv_weight=tv_weight, optimizer=optimizer,
                      init=init, seed=seed, callback=callback, should_stop=cancel)
    out = keep_colors(result.image, content) if preserve_colors else result.image
    return out, result.history, result.stopped
