"""DDIM inversion mechanics (studio/inversion.py).

Reconstruction quality depends on a smooth noise predictor, which a randomly initialised UNet is not (its
GroupNorm makes the prediction jump with tiny input changes, and 1/sqrt(alpha) amplifies that ~100x at the
last steps). So convergence is checked with the exact noise predictor of a Gaussian data distribution, and
a tiny diffusers UNet2DModel checks the real model's calling convention, shapes and determinism.
"""
from types import SimpleNamespace

import pytest
import torch
from diffusers import DDPMScheduler, UNet2DModel

from studio.families.diffusion import ddim_invert, denoise

SCHEDULER = dict(DDPMScheduler(num_train_timesteps=1000).config)


class GaussianDenoiser(torch.nn.Module):
    """The optimal noise prediction when every pixel is N(mean, std^2): smooth, like a trained model."""

    def __init__(self, mean=0.0, std=0.6):
        super().__init__()
        self.mean, self.std = mean, std
        self.alphas = DDPMScheduler(num_train_timesteps=1000).alphas_cumprod
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # gives the module a device

    def forward(self, x, t):
        a = self.alphas[int(t)]
        return SimpleNamespace(sample=(1 - a).sqrt() * (x - a.sqrt() * self.mean) / (a * self.std**2 + 1 - a))


def test_inversion_then_sampling_reconstructs_and_converges():
    images = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    net = GaussianDenoiser()
    errors = {}
    for steps in (10, 40):
        noise = ddim_invert(net, SCHEDULER, images, steps)
        assert noise.shape == images.shape
        assert noise.std().item() == pytest.approx(1.0, abs=0.15)  # it looks like the noise sampling starts from
        errors[steps] = (denoise(net, SCHEDULER, noise, "ddim", steps) - images).abs().mean().item()
    assert errors[40] < 0.02 and errors[40] < 0.5 * errors[10]
    # Sampling with another step count than the inversion does not give the image back.
    wrong = (denoise(net, SCHEDULER, ddim_invert(net, SCHEDULER, images, 40), "ddim", 10) - images).abs().mean()
    assert wrong > 3 * errors[40]


def test_inversion_with_a_diffusers_unet():
    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=8, in_channels=1, out_channels=1, block_out_channels=(8, 16),
                       layers_per_block=1, down_block_types=("DownBlock2D", "DownBlock2D"),
                       up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=4).eval()
    images = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    seen = []
    noise = ddim_invert(unet, SCHEDULER, images, 4, progress=lambda i, n: seen.append((i, n)))
    assert noise.shape == (2, 1, 8, 8) and torch.isfinite(noise).all()
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert torch.equal(noise, ddim_invert(unet, SCHEDULER, images, 4))
    back = denoise(unet, SCHEDULER, noise, "ddim", 4)
    assert back.shape == images.shape and 0 <= back.min() and back.max() <= 1
    with pytest.raises(InterruptedError):
        ddim_invert(unet, SCHEDULER, images, 4, cancelled=lambda: True)
