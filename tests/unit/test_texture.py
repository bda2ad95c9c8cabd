"""The texture statistic that judges style transfer (studio.vision.texture): colour and contrast are not texture,
the same texture elsewhere is close, a blurred texture is far."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from studio.vision.texture import texture_distance, texture_statistics


def stripes(size: int = 160, period: float = 6.0, seed: int = 0) -> torch.Tensor:
    """Noisy diagonal stripes in colour: a texture made here, (1, 3, size, size) in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    wave = torch.sin((x + y).float() * 2 * torch.pi / period) * 0.3 + 0.5
    image = wave + 0.05 * torch.randn(size, size, generator=g)
    return torch.stack([image, image * 0.6 + 0.2, 1 - image]).clamp(0, 1)[None]


def test_texture_not_colour_or_contrast():
    a, elsewhere = stripes(seed=0), stripes(seed=1)
    recoloured = (a * 0.5 + torch.tensor([0.3, 0.1, 0.2]).view(1, 3, 1, 1)).clamp(0, 1)
    blurred = F.avg_pool2d(F.pad(a, (3, 3, 3, 3), mode="replicate"), 7, stride=1)
    assert texture_distance(a, a) == 0
    assert texture_distance(recoloured, a) < 0.02 < texture_distance(blurred, a)
    assert texture_distance(elsewhere, a) < texture_distance(blurred, a)
    assert texture_statistics(a).shape == (2 * 5 * 4,)


def test_too_small_images_are_refused():
    with pytest.raises(ValueError, match="at least 120 px"):
        texture_statistics(torch.rand(1, 3, 64, 64))
