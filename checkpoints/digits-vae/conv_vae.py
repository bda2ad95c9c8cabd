"""A convolutional variational autoencoder (Kingma & Welling, 2014) for 16 to 64 px images, grey or colour.

Part of the creative studio; this file stands alone (torch and huggingface_hub only), so a model folder
that holds it, `config.json` and `model.safetensors` loads anywhere:

    import sys; sys.path.insert(0, folder)
    from conv_vae import ConvVAE
    vae = ConvVAE.from_pretrained(folder)          # a local folder or a Hub repository id
    images = vae.generate(seeds=[0, 1, 2, 3])      # (4, channels, size, size) in [0, 1]

The encoder halves the resolution with strided convolutions down to 4x4 and predicts the mean and log
variance of a diagonal Gaussian; the decoder mirrors it with nearest upsampling + convolution (fewer
checkerboard artefacts than transposed convolutions).
"""
from __future__ import annotations

import math

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

SIZES = (16, 32, 64)


class ConvVAE(nn.Module, PyTorchModelHubMixin, pipeline_tag="unconditional-image-generation",
              tags=["creative-studio", "vae"]):
    def __init__(self, image_size: int = 32, channels: int = 1, latent_dim: int = 32, base_width: int = 32,
                 max_width: int = 256):
        super().__init__()
        if image_size not in SIZES:
            raise ValueError(f"image_size must be one of {SIZES}")
        self.image_size, self.channels, self.latent_dim = image_size, channels, latent_dim
        levels = int(math.log2(image_size // 4))
        widths = [min(base_width * 2**i, max_width) for i in range(levels + 1)]
        self.top_width = widths[-1]

        enc = [nn.Conv2d(channels, widths[0], 3, padding=1), nn.SiLU()]
        for w_in, w_out in zip(widths[:-1], widths[1:]):
            enc += [nn.Conv2d(w_in, w_out, 4, stride=2, padding=1), nn.BatchNorm2d(w_out), nn.SiLU()]
        self.encoder = nn.Sequential(*enc, nn.Flatten())
        self.to_stats = nn.Linear(widths[-1] * 16, 2 * latent_dim)

        self.from_latent = nn.Linear(latent_dim, widths[-1] * 16)
        dec = []
        for w_in, w_out in zip(widths[::-1][:-1], widths[::-1][1:]):
            dec += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(w_in, w_out, 3, padding=1),
                    nn.BatchNorm2d(w_out), nn.SiLU()]
        self.decoder = nn.Sequential(*dec, nn.Conv2d(widths[0], channels, 3, padding=1))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (N, C, H, W) in [-1, 1] -> mean and log variance, each (N, latent_dim)."""
        mu, logvar = self.to_stats(self.encoder(x)).chunk(2, dim=1)
        return mu, logvar.clamp(-30, 20)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """z: (N, latent_dim) -> per-pixel logits (N, C, H, W); sigmoid gives intensities in [0, 1]."""
        h = self.from_latent(z).view(-1, self.top_width, 4, 4)
        return self.decoder(h)

    def forward(self, x: torch.Tensor):
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decode_logits(z), mu, logvar

    def latents(self, seeds: list[int]) -> torch.Tensor:
        """One standard normal latent per seed, each drawn on the CPU from its own generator (as the studio
        draws them, so seed s gives the image the studio shows for seed s)."""
        return torch.stack([torch.randn(self.latent_dim, generator=torch.Generator().manual_seed(int(s)))
                            for s in seeds])

    @torch.no_grad()
    def generate(self, seeds: list[int], temperature: float = 1.0) -> torch.Tensor:
        """Images (len(seeds), C, H, W) in [0, 1] on the CPU; `temperature` scales the latents."""
        device = next(self.parameters()).device
        z = self.latents(seeds).to(device) * temperature
        return torch.sigmoid(self.decode_logits(z).float()).cpu()
