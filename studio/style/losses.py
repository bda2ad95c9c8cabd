"""Losses and image operations shared by every style-transfer method.

Images are float tensors (N, 3, H, W) in [0, 1]; feature maps are (N, C, h, w).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def gram(features: torch.Tensor) -> torch.Tensor:
    """(N, C, h, w) -> (N, C, C) Gram matrices divided by h*w (the number of positions), so that with a
    mean squared error over the C*C entries the loss is Gatys et al.'s E_l up to a factor 4."""
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (h * w)


def blended_grams(features_per_style: list[dict[str, torch.Tensor]], weights: list[float]) -> dict[str, torch.Tensor]:
    """Target Gram matrices for several style images mixed with `weights` (which sum to 1): the weighted
    mean of each style's Gram matrix, layer by layer (Gatys et al.'s way to mix styles)."""
    layers = features_per_style[0].keys()
    return {name: sum(w * gram(f[name]) for f, w in zip(features_per_style, weights)) for name in layers}


def style_loss(features: dict[str, torch.Tensor], target_grams: dict[str, torch.Tensor],
               layer_weights: dict[str, float]) -> torch.Tensor:
    """Weighted sum over layers of the mean squared difference between Gram matrices."""
    total = 0.0
    for name, weight in layer_weights.items():
        g = gram(features[name])
        total = total + weight * F.mse_loss(g, target_grams[name].expand_as(g), reduction="mean")
    return total


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(features, target)


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Total variation: the mean absolute difference between neighbouring pixels (smooths high-frequency noise)."""
    return (image[..., 1:, :] - image[..., :-1, :]).abs().mean() + (image[..., :, 1:] - image[..., :, :-1]).abs().mean()


def mean_std(features: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation over space: each (N, C, 1, 1)."""
    n, c = features.shape[:2]
    flat = features.reshape(n, c, -1)
    return flat.mean(-1).view(n, c, 1, 1), (flat.var(-1, unbiased=False) + eps).sqrt().view(n, c, 1, 1)


def statistics_loss(features: dict[str, torch.Tensor], targets: dict[str, tuple[torch.Tensor, torch.Tensor]],
                    layer_weights: dict[str, float]) -> torch.Tensor:
    """Huang & Belongie's style loss: matched per-channel means and standard deviations, layer by layer."""
    total = 0.0
    for name, weight in layer_weights.items():
        m, s = mean_std(features[name])
        tm, ts = targets[name]
        total = total + weight * (F.mse_loss(m, tm.expand_as(m)) + F.mse_loss(s, ts.expand_as(s)))
    return total


# -- colour: luminance-only transfer (Gatys et al. 2016, "Preserving colour in neural artistic style transfer")

_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def to_yiq(image: torch.Tensor) -> torch.Tensor:
    """RGB (N, 3, H, W) in [0, 1] -> YIQ (Y in [0, 1]; I, Q about [-0.6, 0.6])."""
    return torch.einsum("ij,njhw->nihw", _TO_YIQ.to(image), image)


def from_yiq(yiq: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,njhw->nihw", torch.linalg.inv(_TO_YIQ).to(yiq), yiq).clamp(0, 1)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """The Y channel repeated to 3 channels: what a network sees of an image's light and shade alone."""
    return to_yiq(image)[:, :1].repeat(1, 3, 1, 1)


def match_luminance(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The style's luminance, shifted and scaled to the content's luminance mean and spread (as the paper
    does, so the transferred light and shade fit the content's exposure), as a 3-channel grey image."""
    ys, yc = to_yiq(style)[:, :1], to_yiq(content)[:, :1]
    y = (ys - ys.mean()) / (ys.std() + 1e-6) * yc.std() + yc.mean()
    return y.clamp(0, 1).repeat(1, 3, 1, 1)


def keep_colors(stylized: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The stylised image's luminance with the content's colour (I and Q channels)."""
    if content.shape[-2:] != stylized.shape[-2:]:
        content = F.interpolate(content, size=stylized.shape[-2:], mode="bilinear", align_corners=False)
    y = to_yiq(stylized)[:, :1]
    return from_yiq(torch.cat([y, to_yiq(content)[:, 1:]], dim=1))


# -- masks ----------------------------------------------------------------------------------------------

def soften_mask(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Blur a (N, 1, H, W) mask in [0, 1] with a box filter of `radius` px (applied twice: a tent), so the
    stylised region fades into the original instead of ending in a hard seam."""
    if radius <= 0:
        return mask
    k = 2 * radius + 1
    for _ in range(2):
        mask = F.avg_pool2d(F.pad(mask, (radius,) * 4, mode="replicate"), k, stride=1)
    return mask


def apply_mask(stylized: torch.Tensor, content: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Stylised where `mask` is 1, the content where it is 0, a blend between. Mask (N, 1, H, W) in [0, 1]."""
    size = stylized.shape[-2:]
    if content.shape[-2:] != size:
        content = F.interpolate(content, size=size, mode="bilinear", align_corners=False)
    if mask.shape[-2:] != size:
        mask = F.interpolate(mask, size=size, mode="bilinear", align_corners=False)
    return mask * stylized + (1 - mask) * content
