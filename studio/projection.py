"""GAN projection: find the latent z whose image G(z) looks like a given picture, by optimisation.

A GAN has no encoder, so an artist's own image enters its latent space by gradient descent on z
(Abdal et al., Image2StyleGAN, 2019; Karras et al., StyleGAN2 projector, 2020), with the generator frozen:

    loss(z) = perceptual_weight * perceptual_distance(G(z), x) + pixel_weight * mean((G(z) - x)^2)
              + prior_weight * (|z|^2 / dim - 1)^2

The perceptual term (offline EfficientNet-Lite0 features, `studio.perceptual`) matches shapes and texture;
the pixel term matches colours; the prior keeps z near the sphere where Gaussian latents live, so that
slerp from a projected latent to a seed's latent stays among images the generator makes well. Several
random starts are scored and the best is optimised with Adam.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from .devices import generator as seeded_generator
from .perceptual import FEATURE_SIZE, perceptual_distance


@dataclass
class Projection:
    latents: torch.Tensor          # (N, latent_dim) on the CPU
    images: torch.Tensor           # (N, C, H, W) in [0, 1]: G(latents), the reconstruction
    distance: torch.Tensor         # (N,) perceptual distance of the reconstruction to the target
    losses: list[float] = field(default_factory=list)  # mean total loss per step
    steps_done: int = 0
    stopped_early: bool = False    # `cancelled()` returned True before all steps ran


def _render(gen: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """G(z) in [-1, 1] -> [0, 1], on the CPU (the feature network runs there)."""
    return ((gen(z) + 1) / 2).float().cpu()


def _loss(gen, z, target, pixel_weight, perceptual_weight, prior_weight, feature_size) -> torch.Tensor:
    """Per-image loss (N,)."""
    image = _render(gen, z)
    loss = perceptual_weight * perceptual_distance(image, target, feature_size)
    loss = loss + pixel_weight * (image - target).pow(2).mean(dim=(1, 2, 3))
    prior = (z.float().cpu().pow(2).mean(dim=1) - 1).pow(2)
    return loss + prior_weight * prior


def project(gen: nn.Module, targets: torch.Tensor, steps: int = 200, learning_rate: float = 0.05,
            starts: int = 8, seed: int = 0, pixel_weight: float = 1.0, perceptual_weight: float = 1.0,
            prior_weight: float = 0.05, feature_size: int = FEATURE_SIZE, progress: Callable[[int, int, float], None] | None = None,
            cancelled: Callable[[], bool] | None = None) -> Projection:
    """Project target images (N, C, H, W) in [0, 1] (C and size as the generator makes) into z space.

    `gen` maps z (N, gen.latent_dim) to images in [-1, 1]; it is not changed (no gradients reach its
    weights). `starts` random latents per image (from `seed`) are scored and the best starts the descent.
    `progress(step, steps, loss)` after every step; `cancelled()` True stops early and returns the latents
    reached so far. `feature_size`: side (px) images are resized to for the perceptual features.
    Deterministic for a given seed on one machine.
    """
    gen.eval()
    device = next(gen.parameters()).device
    n, dim = targets.shape[0], int(gen.latent_dim)
    targets = targets.float().cpu()

    with torch.no_grad():
        candidates = torch.randn(starts, n, dim, generator=seeded_generator(seed))
        scores = torch.stack([_loss(gen, c.to(device), targets, pixel_weight, perceptual_weight, prior_weight,
                                    feature_size)
                              for c in candidates])          # (starts, N)
        best = scores.argmin(dim=0)
        z0 = candidates[best, torch.arange(n)]

    z = z0.clone().to(device).requires_grad_(True)
    optimiser = torch.optim.Adam([z], lr=learning_rate)
    losses, done, stopped = [], 0, False
    for step in range(steps):
        if cancelled is not None and cancelled():
            stopped = True
            break
        with torch.enable_grad():
            loss = _loss(gen, z, targets, pixel_weight, perceptual_weight, prior_weight, feature_size).sum()
            # Gradients to z only: the generator's weights keep no .grad and stay as they are.
            (grad,) = torch.autograd.grad(loss, [z])
        optimiser.zero_grad(set_to_none=True)
        z.grad = grad
        optimiser.step()
        losses.append(loss.item() / n)
        done = step + 1
        if progress is not None:
            progress(done, steps, losses[-1])

    with torch.no_grad():
        latents = z.detach()
        images = _render(gen, latents).clamp(0, 1)
        distance = perceptual_distance(images, targets)
    return Projection(latents.cpu(), images, distance, losses, done, stopped)
