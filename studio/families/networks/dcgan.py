"""The generator of a DCGAN-style generative adversarial network for 32, 64 and 128 px images.

Part of the creative studio; this file stands alone (torch and huggingface_hub only), so a model folder
that holds it, `config.json` and `model.safetensors` loads anywhere:

    import sys; sys.path.insert(0, folder)
    from dcgan import Generator
    generator = Generator.from_pretrained(folder)   # a local folder or a Hub repository id
    images = generator.generate(seeds=[0, 1, 2, 3])  # (4, channels, size, size) in [0, 1]

A linear layer to 4x4, then transposed convolutions (stride 2) with batch norm and ReLU up to the image
size, tanh out (Radford et al., 2016). The saved weights are the exponential moving average of the
generator's weights during training. The discriminator is only needed for training and is not saved.
"""
from __future__ import annotations

import math

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

SIZES = (32, 64, 128)


class Generator(nn.Module, PyTorchModelHubMixin, pipeline_tag="unconditional-image-generation",
                tags=["creative-studio", "gan"]):
    """z (N, latent_dim) standard normal -> images (N, channels, image_size, image_size) in [-1, 1]."""

    def __init__(self, image_size: int = 32, channels: int = 3, latent_dim: int = 64, width: int = 64,
                 max_width: int = 512):
        super().__init__()
        if image_size not in SIZES:
            raise ValueError(f"image_size must be one of {SIZES}")
        self.image_size, self.channels, self.latent_dim = image_size, channels, latent_dim
        levels = int(math.log2(image_size // 4))
        # Widths halve on the way up: 4x4 has width * 2^(levels-1) channels, the last upsampled map has `width`.
        widths = [min(width * 2 ** (levels - 1 - i), max_width) for i in range(levels)]
        self.top_width = widths[0]
        self.project = nn.Sequential(nn.Linear(latent_dim, widths[0] * 16, bias=False))
        self.project_norm = nn.Sequential(nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True))
        ups = []
        for w_in, w_out in zip(widths, widths[1:] + [widths[-1]]):
            ups += [nn.ConvTranspose2d(w_in, w_out, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(w_out),
                    nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*ups)
        self.to_image = nn.Conv2d(widths[-1], channels, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.project(z).view(-1, self.top_width, 4, 4)
        return torch.tanh(self.to_image(self.body(self.project_norm(h))))

    def latents(self, seeds: list[int]) -> torch.Tensor:
        """One standard normal latent per seed, each drawn on the CPU from its own generator (as the studio
        draws them, so seed s gives the image the studio shows for seed s)."""
        return torch.stack([torch.randn(self.latent_dim, generator=torch.Generator().manual_seed(int(s)))
                            for s in seeds])

    @torch.no_grad()
    def generate(self, seeds: list[int], truncation: float = 1.0) -> torch.Tensor:
        """Images (len(seeds), C, H, W) in [0, 1] on the CPU; `truncation` below 1 scales the latents toward
        their mean: cleaner, less varied images."""
        device = next(self.parameters()).device
        z = self.latents(seeds).to(device) * truncation
        return ((self(z).float().cpu() + 1) / 2).clamp(0, 1)
