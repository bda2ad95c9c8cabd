"""Running a feed-forward method over an image too large for one pass, in overlapping tiles.

Each tile is stylised on its own; where tiles overlap, their outputs are blended with weights that fall
linearly to the tile's edge, so no seam shows where one tile ends. Networks that need sizes divisible by
some number get their input reflection-padded and the output cropped back.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

TILE = 768      # feed-forward style methods: tile side for large outputs, px
OVERLAP = 64    # px shared by neighbouring tiles, blended linearly


def run_padded(fn: Callable[[torch.Tensor], torch.Tensor], image: torch.Tensor, multiple: int) -> torch.Tensor:
    """`fn` on `image` (N, 3, H, W) reflection-padded up to multiples of `multiple`, cropped back to H x W."""
    h, w = image.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        image = F.pad(image, (0, pw, 0, ph), mode=mode)
    return fn(image)[..., :h, :w]


def _starts(length: int, tile: int, step: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, step))
    return starts + [length - tile]


def _ramp(length: int, overlap: int, at_start: bool, at_end: bool) -> torch.Tensor:
    w = torch.ones(length)
    if overlap > 0:
        ramp = torch.linspace(0, 1, overlap + 2)[1:-1]
        if not at_start:
            w[:overlap] = ramp
        if not at_end:
            w[-overlap:] = ramp.flip(0)
    return w


def run_tiled(fn: Callable[[torch.Tensor], torch.Tensor], image: torch.Tensor, tile: int = 512,
              overlap: int = 64, multiple: int = 1, progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """`fn` over (1, 3, H, W) `image` in tiles of at most `tile` px that overlap by `overlap` px.

    An image that fits one tile is processed in one pass. `progress(done, total)` is called per tile.
    """
    h, w = image.shape[-2:]
    if h <= tile and w <= tile:
        return run_padded(fn, image, multiple)
    overlap = min(overlap, tile // 2)
    ys, xs = _starts(h, tile, tile - overlap), _starts(w, tile, tile - overlap)
    out = torch.zeros_like(image)
    weight = torch.zeros(1, 1, h, w, dtype=image.dtype)
    total, done = len(ys) * len(xs), 0
    for y in ys:
        for x in xs:
            th, tw = min(tile, h - y), min(tile, w - x)
            result = run_padded(fn, image[..., y:y + th, x:x + tw], multiple)
            wy = _ramp(th, overlap, y == 0, y + th >= h)
            wx = _ramp(tw, overlap, x == 0, x + tw >= w)
            win = (wy[:, None] * wx[None, :]).to(image)
            out[..., y:y + th, x:x + tw] += result * win
            weight[..., y:y + th, x:x + tw] += win
            done += 1
            if progress is not None:
                progress(done, total)
    return out / weight.clamp_min(1e-8)
