"""Convolutional variational autoencoder (Kingma & Welling, 2014) for 16 to 64 px images, grey or colour.

The encoder halves the resolution with strided convolutions down to 4x4 and predicts the mean and log
variance of a diagonal Gaussian; the decoder mirrors it with nearest upsampling + convolution (fewer
checkerboard artefacts than transposed convolutions). Reconstruction is scored with per-pixel binary
cross-entropy on [0, 1] intensities, summed over the image; the KL term is weighted by `beta` and warmed up
linearly over `kl_warmup` steps so the decoder learns to use the latents before they are squeezed.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..core.devices import inference_autocast
from ..core.errors import StudioError
from ..core.seeds import generator
from .base import Encoded, Family, LoadedModel, Setting, Trainer
from .checks import choice, whole
from .networks.conv_vae import SIZES, ConvVAE


class VAETrainer(Trainer):
    def __init__(self, config: dict, recipe: dict, accelerator):
        self.recipe, self.accelerator = recipe, accelerator
        model = ConvVAE(**config)
        opt = torch.optim.Adam(model.parameters(), lr=recipe["learning_rate"])
        self.model, self.opt = accelerator.prepare(model, opt)

    def train_step(self, batch: torch.Tensor, step: int) -> dict[str, float]:
        self.model.train()
        logits, mu, logvar = self.model(batch)
        target = (batch + 1) / 2
        n = batch.shape[0]
        recon = F.binary_cross_entropy_with_logits(logits.float(), target, reduction="sum") / n
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / n
        warm = min(1.0, (step + 1) / max(1, self.recipe["kl_warmup"]))
        loss = recon + self.recipe["beta"] * warm * kl
        self.opt.zero_grad(set_to_none=True)
        self.accelerator.backward(loss)
        self.opt.step()
        return {"loss": loss.item(), "reconstruction": recon.item(), "kl": kl.item()}

    @torch.no_grad()
    def preview(self, seeds: list[int]) -> torch.Tensor:
        model = self.export()
        model.eval()
        z = torch.stack([torch.randn(model.latent_dim, generator=generator(s)) for s in seeds])
        device = next(model.parameters()).device
        return torch.sigmoid(model.decode_logits(z.to(device))).float().cpu()

    def modules(self):
        return {"model": self.model}

    def optimizers(self):
        return {"optimizer": self.opt}

    def export(self) -> ConvVAE:
        return self.accelerator.unwrap_model(self.model)


class VAEFamily(Family):
    name = "vae"
    kind = "image"
    title = "variational autoencoder (VAE)"
    image_sizes = SIZES
    settings = (
        Setting("temperature", 1.0, 0.0, 2.0, help="scales the latent noise: lower is safer, higher is wilder"),
    )
    config_bounds = {"image_size": choice(*SIZES), "channels": choice(1, 3), "latent_dim": whole(1, 1024),
                     "base_width": whole(1, 256, optional=True), "max_width": whole(1, 1024, optional=True)}

    def default_config(self, image_size: int, channels: int) -> dict:
        return {"image_size": image_size, "channels": channels, "latent_dim": 32,
                "base_width": 32 if image_size <= 32 else 24, "max_width": 256}

    def default_recipe(self) -> dict:
        return {"steps": 3000, "batch_size": 64, "learning_rate": 1e-3, "beta": 1.0, "kl_warmup": 500,
                "seed": 0, "flip": False}

    def build(self, config: dict) -> ConvVAE:
        return ConvVAE(**config)

    def latents(self, model: LoadedModel, seeds: list[int]) -> torch.Tensor:
        return torch.stack([torch.randn(model.module.latent_dim, generator=generator(s)) for s in seeds])

    @torch.no_grad()
    def decode(self, model: LoadedModel, latents: torch.Tensor, settings: dict, progress=None,
               cancelled=None) -> torch.Tensor:
        # One forward pass: nothing to report or to stop part-way.
        z = latents * settings.get("temperature", 1.0)
        with inference_autocast(model.device):
            logits = model.module.decode_logits(z.to(model.device))
        return torch.sigmoid(logits.float()).cpu()

    @torch.no_grad()
    def encode(self, model: LoadedModel, images: torch.Tensor, settings: dict, **_) -> Encoded:
        """Images (N, C, H, W) in [0, 1] at the model's size -> the encoder's means (N, latent_dim), divided by
        the temperature that `decode` multiplies by, so each decodes to the image's own latent."""
        temperature = float(settings.get("temperature", 1.0))
        if temperature <= 0:
            raise StudioError("temperature 0 maps every latent to the same image; use a temperature above 0 "
                              "to take your own images into the model")
        mu, _ = model.module.encode(images.to(model.device) * 2 - 1)
        return Encoded(mu.float().cpu() / temperature, "encoder")

    def trainer(self, config: dict, recipe: dict, accelerator, job_dir=None) -> VAETrainer:
        return VAETrainer(config, recipe, accelerator)
