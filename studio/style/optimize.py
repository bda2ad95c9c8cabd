"""Style transfer by optimising the image itself (Gatys, Ecker & Bethge, 2016).

Starting from the content image (or noise), the pixels are changed to lower
    content_weight * content loss + style_weight * style loss + tv_weight * total variation
measured in a frozen pretrained network (`studio.vision.features.StyleNetwork`). L-BFGS converges in far fewer
steps than Adam here (measured: clearly better at 200 steps); Adam is offered because it uses less memory
and each step costs one evaluation. Large outputs are made coarse to fine: the result at half the size,
upsampled, starts the next scale, so big structures settle cheaply and the fine scale only refines.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F

from ..vision.features import StyleNetwork
from .losses import blended_grams, content_loss, style_loss, tv_loss

COARSEST = 256  # the smallest scale of a coarse-to-fine run, px (longer side)


@dataclass
class Step:
    """What a callback learns after each step: the step number (1-based, over all scales), the total, the
    losses (weighted, plain floats), the current scale's size, and a way to get the current image."""
    step: int
    total: int
    losses: dict
    size: tuple[int, int]
    image: Callable[[], torch.Tensor]


@dataclass
class OptimizeResult:
    image: torch.Tensor                          # (1, 3, H, W) in [0, 1]
    history: list[dict] = field(default_factory=list)  # per step: step, scale, content, style, tv, total
    stopped: bool = False                        # True when `should_stop` ended it early


def scales_for(height: int, width: int, multi_scale: bool = True) -> list[tuple[int, int]]:
    """Sizes from coarse to fine: halve the longer side until it is at most COARSEST px."""
    sizes = [(height, width)]
    while multi_scale and max(sizes[0]) > COARSEST * 1.5:
        h, w = sizes[0]
        sizes.insert(0, (max(8, round(h / 2)), max(8, round(w / 2))))
    return sizes


def split_steps(steps: int, n: int) -> list[int]:
    """Steps per scale: equal shares, the remainder to the coarsest scales (cheaper per step)."""
    base, extra = divmod(steps, n)
    return [base + (1 if i < extra else 0) for i in range(n)]


def optimize(content: torch.Tensor, styles: list[torch.Tensor], style_weights: list[float],
             network: StyleNetwork, *, steps: int = 200, content_weight: float = 1.0,
             style_weight: float | None = None, tv_weight: float = 1e-3, optimizer: str = "lbfgs",
             init: str = "content", seed: int = 0, multi_scale: bool = True,
             callback: Callable[[Step], None] | None = None,
             should_stop: Callable[[], bool] | None = None) -> OptimizeResult:
    """Stylise `content` (1, 3, H, W) in [0, 1] with `styles` (each (1, 3, h, w) in [0, 1]) mixed by
    `style_weights` (summing to 1). The output has the content's size.

    `style_weight` defaults to the network's calibrated value. `init`: "content" or "noise" (uniform noise,
    drawn from `seed`). `optimizer`: "lbfgs" (one step = one L-BFGS iteration of up to a few evaluations,
    counted as one) or "adam".
    """
    if optimizer not in ("lbfgs", "adam"):
        raise ValueError("optimizer must be 'lbfgs' or 'adam'")
    if init not in ("content", "noise"):
        raise ValueError("init must be 'content' or 'noise'")
    style_weight = network.style_weight if style_weight is None else style_weight
    sizes = scales_for(*content.shape[-2:], multi_scale)
    per_scale = split_steps(steps, len(sizes))
    history: list[dict] = []
    g = torch.Generator().manual_seed(int(seed))
    x = None
    done = 0
    for (h, w), n_steps in zip(sizes, per_scale):
        target = F.interpolate(content, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
        with torch.no_grad():
            c_target = network.net(target, {network.content_layer})[network.content_layer]
            # Each style image is seen at the scale the content is seen at: its longer side matched to the
            # output's, so brush strokes keep their size relative to the picture.
            style_feats = []
            for s in styles:
                k = max(h, w) / max(s.shape[-2:])
                sh, sw = max(8, round(s.shape[-2] * k)), max(8, round(s.shape[-1] * k))
                s = F.interpolate(s, size=(sh, sw), mode="bilinear", align_corners=False, antialias=True)
                style_feats.append(network.net(s, set(network.style_layers)))
            grams = blended_grams(style_feats, style_weights)
        if x is None:
            start = target.clone() if init == "content" else torch.rand(target.shape, generator=g)
        else:
            start = F.interpolate(x.detach(), size=(h, w), mode="bilinear", align_corners=False)
        x = start.clamp(0, 1).requires_grad_(True)
        opt = torch.optim.LBFGS([x], lr=1.0, max_iter=1, history_size=50) if optimizer == "lbfgs" \
            else torch.optim.Adam([x], lr=0.02)
        last: dict = {}

        def closure():
            opt.zero_grad(set_to_none=True)
            feats = network.features(x)
            c = content_weight * content_loss(feats[network.content_layer], c_target)
            s = style_weight * style_loss(feats, grams, network.style_layers)
            tv = tv_weight * tv_loss(x)
            total = c + s + tv
            total.backward()
            last.update(content=c.item(), style=s.item(), tv=tv.item(), total=total.item())
            return total

        for _ in range(n_steps):
            if should_stop is not None and should_stop():
                return OptimizeResult(_finish(x, content), history, stopped=True)
            opt.step(closure)
            with torch.no_grad():
                x.clamp_(0, 1)  # keep a valid image; L-BFGS may overshoot the range
            done += 1
            history.append({"step": done, "scale": max(h, w), **last})
            if callback is not None:
                callback(Step(done, steps, dict(last), (h, w), lambda: x.detach().clone()))
    return OptimizeResult(_finish(x, content), history)


def _finish(x: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    x = x.detach()
    if x.shape[-2:] != content.shape[-2:]:  # stopped at a coarse scale: give the requested size anyway
        x = F.interpolate(x, size=content.shape[-2:], mode="bilinear", align_corners=False)
    return x.clamp(0, 1)
