"""Latent-direction sliders: the functions behind the Interpolate tab's sliders and `/directions`, `/move`.

An image (a seed's, or the artist's own, encoded) is moved along the model's principal latent directions
(`studio.latent.directions`, computed once per model and cached under STUDIO_HOME).
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from pathlib import Path

import torch

from .. import __version__
from ..core.environment import environment
from ..core.errors import StudioError
from ..core.media import save_png, to_pil
from ..core.outputs import new_output_dir
from ..core.seeds import check_seed
from ..latent.directions import directions_for, move
from .interpolate import RESAMPLING, encode_keyframes, load_keyframe_images, output_size
from .models import load_image_model

MAX_AMOUNT = 5.0   # prior standard deviations; beyond this images leave what the model has learned
_encoded: OrderedDict[tuple, torch.Tensor] = OrderedDict()  # latents of recently moved images
_encoded_lock = threading.Lock()
_ENCODED_KEEP = 16


def latent_directions(model: str, progress=None) -> dict:
    """How many directions the model has and how much of the image variance each explains (0-1)."""
    record, loaded = load_image_model(model)
    found = directions_for(loaded, environment().home, progress=progress)
    return {"model": record.name, "directions": int(found.vectors.shape[0]),
            "explained": [round(float(e), 4) for e in found.explained], "samples": found.samples}


def _image_latent(loaded, record, image, checked, projection_steps) -> torch.Tensor:
    """The latent of the artist's image, encoded once and remembered (projection takes a while)."""
    path = Path(image)
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        raise StudioError(f"image {path.name} was not found") from None
    key = (record.name, loaded.weights_hash, digest, projection_steps, tuple(sorted(checked.items())))
    with _encoded_lock:
        if key in _encoded:
            _encoded.move_to_end(key)
            return _encoded[key]
    shapes = record.meta.get("shapes", {})
    pictures, _, _ = load_keyframe_images([path], int(shapes.get("image_size", 32)), int(shapes.get("channels", 3)))
    latent = encode_keyframes(loaded, pictures, checked, projection_steps=projection_steps).latents[0]
    with _encoded_lock:
        _encoded[key] = latent
        while len(_encoded) > _ENCODED_KEEP:
            _encoded.popitem(last=False)
    return latent


def move_along(model: str, amounts: list[float], seed: int | None = 0, image: str | Path | None = None,
               size: int | None = None, resample: str = "nearest", projection_steps: int = 200,
               out_dir: Path | None = None, **settings) -> tuple[Path, dict]:
    """The image of `seed` (or of `image`, encoded) moved by amounts[i] along direction i; a PNG and its
    parameters. Amounts are in latent standard deviations, each within +-5; missing ones count as 0."""
    record, loaded = load_image_model(model)
    family = loaded.family
    checked = family.check_settings(settings)
    amounts = [0.0 if a is None else float(a) for a in (amounts or [])]
    for a in amounts:
        if not -MAX_AMOUNT <= a <= MAX_AMOUNT:
            raise StudioError(f"each amount must be between -{MAX_AMOUNT:g} and {MAX_AMOUNT:g}; got {a:g}")
    if resample not in RESAMPLING:
        raise StudioError(f"resample must be one of {', '.join(RESAMPLING)}; got {resample!r}")
    found = directions_for(loaded, environment().home)
    if image:
        base, source = _image_latent(loaded, record, image, checked, int(projection_steps)), {"image": Path(image).name}
    else:
        seed = check_seed(0 if seed is None else seed)
        base, source = family.latents(loaded, [seed])[0], {"seed": seed}
    moved = move(base, found, amounts)
    picture = family.decode(loaded, moved[None], checked)[0]
    side = output_size(size, int(record.meta.get("shapes", {}).get("image_size", picture.shape[-1])))
    pil = to_pil(picture)
    if pil.size != (side, side):
        pil = pil.resize((side, side), RESAMPLING[resample])
    params = {"model": record.name, "weights": loaded.weights_hash, "family": family.name, **checked, **source,
              "directions": [round(a, 4) for a in amounts], "studio_version": __version__}
    out = Path(out_dir) if out_dir else new_output_dir("move")
    tag = "-".join(f"{a:+.2f}" for a in amounts) or "0"
    return save_png(pil, out / f"{record.name}-moved-{tag}.png", params), params
