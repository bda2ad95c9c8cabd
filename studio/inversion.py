"""DDIM inversion: the initial noise from which deterministic DDIM sampling redraws a given image.

DDIM with eta 0 is an ODE; running its steps backwards (Song et al., 2021; diffusers
`DDIMInverseScheduler`) carries an image x_0 to a noise x_T that DDIM sampling with the same number of
steps maps back close to x_0. The error comes from using the noise prediction at the previous step's
sample; it shrinks as the step count grows. The noise is then a keyframe like any seed's noise.

The diffusion family's "ddim" sampler (`families.diffusion.denoise`, eta 0) walks the same timesteps back,
so sampling the inverted noise with the same step count reconstructs the image.
"""
from __future__ import annotations

from typing import Callable

import torch
from diffusers import DDIMInverseScheduler

# Inversion must walk the very timesteps that the diffusion family's sampling walks back.
from .families.diffusion import TIMESTEP_SPACING


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
    device = next(unet.parameters()).device
    x = (images.float() * 2 - 1).to(device)
    for i, t in enumerate(inverse.timesteps):
        if cancelled is not None and cancelled():
            raise InterruptedError("cancelled")
        eps = unet(x, t.to(device)).sample
        x = inverse.step(eps, t, x).prev_sample
        if progress is not None:
            progress(i + 1, steps)
    return x.float().cpu()
