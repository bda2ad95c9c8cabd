"""DDIM inversion: the initial noise from which deterministic DDIM sampling redraws a given image.

DDIM with eta 0 is an ODE; running its steps backwards (Song et al., 2021; diffusers
`DDIMInverseScheduler`) carries an image x_0 to a noise x_T that DDIM sampling with the same number of
steps maps back close to x_0. The error comes from using the noise prediction at the previous step's
sample; it shrinks as the step count grows. The noise is then a keyframe like any seed's noise.

`ddim_sample` is the matching forward sampler (diffusers `DDIMScheduler`, eta 0): the diffusion family's
"ddim" sampler follows the same steps, so the studio's sampling of inverted noise reconstructs the image.
"""
from __future__ import annotations

from typing import Callable

import torch
from diffusers import DDIMInverseScheduler, DDIMScheduler

# The spacing the diffusion family samples with (see `families.diffusion.sampling_scheduler`): inversion
# must walk the very timesteps that sampling walks back.
TIMESTEP_SPACING = "trailing"


def _unet_device(unet) -> torch.device:
    return next(unet.parameters()).device


@torch.no_grad()
def ddim_invert(unet, scheduler_config: dict, images: torch.Tensor, steps: int = 50,
                progress: Callable[[int, int], None] | None = None,
                cancelled: Callable[[], bool] | None = None) -> torch.Tensor:
    """Images (N, C, H, W) in [0, 1] at the UNet's size -> noise (N, C, H, W) at DDIM's first timestep.

    `scheduler_config` is the model's DDPMScheduler config (dict); `steps` must equal the DDIM steps used to
    sample the noise back. Raises InterruptedError when `cancelled()` turns True between steps.
    """
    inverse = DDIMInverseScheduler.from_config({**scheduler_config, "timestep_spacing": TIMESTEP_SPACING})
    inverse.set_timesteps(steps)
    device = _unet_device(unet)
    x = (images.float() * 2 - 1).to(device)
    for i, t in enumerate(inverse.timesteps):
        if cancelled is not None and cancelled():
            raise InterruptedError("cancelled")
        eps = unet(x, t.to(device)).sample
        x = inverse.step(eps, t, x).prev_sample
        if progress is not None:
            progress(i + 1, steps)
    return x.float().cpu()


@torch.no_grad()
def ddim_sample(unet, scheduler_config: dict, noise: torch.Tensor, steps: int = 50) -> torch.Tensor:
    """Deterministic DDIM sampling (eta 0) from noise (N, C, H, W) -> images in [0, 1] on the CPU."""
    scheduler = DDIMScheduler.from_config({**scheduler_config, "timestep_spacing": TIMESTEP_SPACING})
    scheduler.set_timesteps(steps)
    device = _unet_device(unet)
    x = noise.float().to(device) * scheduler.init_noise_sigma
    for t in scheduler.timesteps:
        eps = unet(x, t.to(device)).sample
        x = scheduler.step(eps, t, x, eta=0.0).prev_sample
    return (x.float().cpu() / 2 + 0.5).clamp(0, 1)
