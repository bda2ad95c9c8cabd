"""A texture statistic that no style transfer method here optimises, to judge whether a method carries a style's
texture.

Every method in the studio trains or optimises against EfficientNet-Lite0 features (optimisation's Gram losses,
the AdaIN decoder's losses), so judging them by that network's statistics would let them mark their own work;
VGG19 weights are not available offline, and no other pretrained network is. So the judge is classical: a bank
of Gabor filters (5 scales, wavelengths about 3 to 55 px, 4 orientations; the oriented band-pass channels of
texture models since Heeger & Bergen 1995 and Portilla & Simoncelli 2000) applied to the luminance after it is
shifted to mean 0 and scaled to standard deviation 1. Per band it keeps the log mean magnitude (how energy is
spread over scales and orientations) and the magnitude's coefficient of variation (sparse lines and dots vs
even noise). Mean colour and overall contrast are divided out first, because AdaIN-like colour transfer changes
them without moving any texture: giving the astronaut photo the immunohistochemistry stain's channel means and
deviations leaves its distance to the stain unchanged (0.160 -> 0.160 at 256 px), blurring the stain moves it
away (0.18), another part of the stain sits at 0.06-0.08.

`texture_distance(a, b)` is the root mean square difference of the two images' statistics; lower is closer.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

SCALES = (1, 2, 4, 8, 16)     # Gabor sigma in units of 1.2 px; wavelength 3.3 * scale px
ORIENTATIONS = 4
_bank: list[tuple[torch.Tensor, torch.Tensor]] = []


def _gabor_bank() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(real, imaginary) 2-D kernels, (1, 1, k, k) each, built once (skimage's `gabor_kernel`)."""
    if not _bank:
        from skimage.filters import gabor_kernel

        for s in SCALES:
            for o in range(ORIENTATIONS):
                k = gabor_kernel(frequency=0.3 / s, theta=math.pi * o / ORIENTATIONS, sigma_x=1.2 * s,
                                 sigma_y=1.2 * s)
                _bank.append((torch.tensor(np.real(k), dtype=torch.float32)[None, None],
                              torch.tensor(np.imag(k), dtype=torch.float32)[None, None]))
    return _bank


@torch.no_grad()
def texture_statistics(image: torch.Tensor) -> torch.Tensor:
    """Image (1, 3, H, W) in [0, 1], at least 120 px on each side -> (2 * bands,) statistics."""
    if min(image.shape[-2:]) < 120:
        raise ValueError("texture statistics need images of at least 120 px on each side (the largest filter)")
    y = (0.299 * image[:, 0] + 0.587 * image[:, 1] + 0.114 * image[:, 2])[:, None].float()
    y = (y - y.mean()) / y.std().clamp_min(1e-3)
    stats = []
    for real, imag in _gabor_bank():
        magnitude = (F.conv2d(y, real) ** 2 + F.conv2d(y, imag) ** 2).sqrt()
        mean = magnitude.mean()
        stats += [torch.log(mean + 1e-4), magnitude.std() / mean.clamp_min(1e-4)]
    return torch.stack(stats)


def texture_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Root mean square difference of the texture statistics of two images (1, 3, H, W) in [0, 1]."""
    return float((texture_statistics(a) - texture_statistics(b)).pow(2).mean().sqrt())
