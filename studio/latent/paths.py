"""Paths through a model's latent space: slerp and lerp between keyframes, easing, loops, random walks.

Everything here works on plain latent tensors and knows nothing of models or files. A latent of any shape
(a VAE or GAN vector (D,), a diffusion model's initial noise (C, H, W)) is treated as one flat vector.

Frame counting: with K keyframes and `frames` frames per segment, an open path has (K - 1) * frames + 1
frames and ends on the last keyframe; a loop has K * frames frames and its last segment runs back to the
first keyframe without repeating it (so a looping GIF does not stutter). Frame k * frames is keyframe k
exactly (the very same tensor values), so the frame at a seed is the image that seed generates.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from ..core.seeds import generator

METHODS = ("slerp", "lerp")
EASINGS = ("linear", "ease-in-out")
# Below this angle (radians) between two latents slerp divides by a vanishing sine; lerp is then exact enough.
_PARALLEL = 1e-4


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Straight-line interpolation. a, b: latents of one shape; t: scalar or (T,) in [0, 1] -> (T, *shape)."""
    t = torch.as_tensor(t, dtype=torch.float32).reshape(-1, *([1] * a.dim()))
    return (1 - t) * a.float() + t * b.float()


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985) of two latents, flattened; t: scalar or (T,) -> (T, *shape).

    Gaussian latents live near a sphere of radius sqrt(dim); the straight line between two of them passes
    closer to the centre, where images are washed out. Slerp follows the great circle instead and keeps
    the norm when |a| = |b|.
    """
    t = torch.as_tensor(t, dtype=torch.float32).reshape(-1, 1)
    fa, fb = a.float().reshape(1, -1), b.float().reshape(1, -1)
    cos = (fa / fa.norm()).mul(fb / fb.norm()).sum().clamp(-1.0, 1.0)
    omega = torch.arccos(cos)
    if omega.abs() < _PARALLEL or (math.pi - omega).abs() < _PARALLEL:
        # Parallel or opposite: the great circle is undefined; fall back to the line.
        return lerp(a, b, t.reshape(-1))
    sin = torch.sin(omega)
    out = torch.sin((1 - t) * omega) / sin * fa + torch.sin(t * omega) / sin * fb
    return out.reshape(-1, *a.shape)


def ease(t: torch.Tensor, easing: str = "linear") -> torch.Tensor:
    """Map times in [0, 1] to eased times in [0, 1]. "ease-in-out" slows down at both keyframes (cosine)."""
    if easing == "linear":
        return t
    if easing == "ease-in-out":
        return (1 - torch.cos(math.pi * t)) / 2
    raise ValueError(f"easing must be one of {EASINGS}")


def segment_times(frames: int, easing: str = "linear") -> torch.Tensor:
    """The eased times of one segment's frames: frames values from 0 (the keyframe itself) up to, but not
    including, 1 (the next keyframe starts the next segment)."""
    return ease(torch.arange(frames, dtype=torch.float32) / frames, easing)


def frame_count(keyframes: int, frames: int, loop: bool) -> int:
    """How many frames `keyframe_path` returns."""
    return keyframes * frames if loop else (keyframes - 1) * frames + 1


def keyframe_path(keys: torch.Tensor, frames: int, method: str = "slerp", easing: str = "linear",
                  loop: bool = False) -> tuple[torch.Tensor, list[float]]:
    """Latents for every frame through keyframes `keys` (K, *shape), K >= 2 (K >= 1 with loop makes a still).

    Returns (latents (M, *shape), positions) where position m is keyframe index + time within the segment
    (2.5 = half way from keyframe 2 to keyframe 3), for the parameters of each frame.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}")
    interp = slerp if method == "slerp" else lerp
    times = segment_times(frames, easing)
    k = keys.shape[0]
    pairs = [(i, (i + 1) % k) for i in range(k if loop else k - 1)]
    out, positions = [], []
    raw = torch.arange(frames, dtype=torch.float32) / frames
    for i, j in pairs:
        seg = interp(keys[i], keys[j], times)
        seg[0] = keys[i].float()  # the keyframe itself, bit for bit, not sin(w)/sin(w) * a
        out.append(seg)
        positions += [i + float(r) for r in raw]
    if not loop:
        out.append(keys[-1:].float())
        positions.append(float(k - 1))
    return torch.cat(out), positions


def random_walk(draw: Callable[[list[int]], torch.Tensor], seed: int, length: int,
                harmonics: int = 3) -> torch.Tensor:
    """A smooth random loop of `length` latents: z(s) = sum_k w_k (cos(2 pi k s) a_k + sin(2 pi k s) b_k).

    `draw(seeds)` returns standard-normal latents (one per seed, as a family's `latents` does); a_k, b_k
    come from seeds derived from `seed`. With sum w_k^2 = 1 every frame is itself distributed N(0, I), like
    a fresh sample, while consecutive frames stay close; s runs over [0, 1) so the last frame leads back to
    the first. Weights fall as 1/k: the slow harmonic dominates, faster ones add wandering.
    """
    seeds = torch.randint(0, 2**31 - 1, (2 * harmonics,), generator=generator(seed)).tolist()
    coeffs = draw(seeds).float()
    weights = torch.tensor([1.0 / k for k in range(1, harmonics + 1)])
    weights = weights / weights.norm()
    s = torch.arange(length, dtype=torch.float32) / length
    shape = [length] + [1] * (coeffs.dim() - 1)
    z = torch.zeros(length, *coeffs.shape[1:])
    for k in range(1, harmonics + 1):
        angle = (2 * math.pi * k * s).reshape(shape)
        a, b = coeffs[2 * (k - 1)], coeffs[2 * (k - 1) + 1]
        z += weights[k - 1] * (torch.cos(angle) * a + torch.sin(angle) * b)
    return z


def decode_in_batches(decode: Callable[[torch.Tensor], torch.Tensor], latents: torch.Tensor,
                      batch_size: int = 16, progress: Callable[[int, int], None] | None = None,
                      cancelled: Callable[[], bool] | None = None) -> torch.Tensor:
    """Run `decode` over `latents` (M, *shape) `batch_size` at a time; (M, C, H, W) in [0, 1] on the CPU.

    `progress(done, total)` is called after each batch; `cancelled()` returning True stops with
    InterruptedError between batches.
    """
    images = []
    total = latents.shape[0]
    for start in range(0, total, batch_size):
        if cancelled is not None and cancelled():
            raise InterruptedError("cancelled")
        images.append(decode(latents[start:start + batch_size]).float().cpu())
        if progress is not None:
            progress(min(start + batch_size, total), total)
    return torch.cat(images)
