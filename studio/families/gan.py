"""Generative adversarial network (DCGAN-style) for 32, 64 and 128 px images, grey or colour.

The recipe is the one that holds on small data sets:
- generator: a linear layer to 4x4, then transposed convolutions (stride 2) with batch norm and ReLU up to the
  image size, tanh out (Radford et al., 2016);
- discriminator: strided convolutions with spectral normalisation on every layer and leaky ReLU, no batch
  norm (Miyato et al., 2018), which keeps its gradients bounded without a penalty term;
- loss: hinge (default) or the non-saturating logistic loss;
- an exponential moving average (EMA) of the generator's weights samples the images: it averages out the
  oscillation of adversarial training and gives visibly cleaner samples;
- differentiable augmentation (DiffAugment: colour, translation, cutout; Zhao et al., 2020) of real and
  generated images before the discriminator, on by default when the set holds fewer than 2,000 images, so the
  discriminator cannot memorise a small set;
- truncation at sampling time: latents scaled toward their mean (zero), trading variety for fidelity;
- projection (`project`): a GAN has no encoder, so an artist's own image enters its latent space by
  optimising z against a perceptual + pixel loss, with the generator frozen.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm
from torch.optim.swa_utils import AveragedModel

from ..core.devices import inference_autocast
from ..core.errors import StudioError
from ..core.seeds import generator
from ..vision.perceptual import FEATURE_SIZE, perceptual_distance
from .base import Encoded, Family, LoadedModel, Setting, Trainer
from .checks import choice, whole
from .networks.dcgan import SIZES, Generator

SMALL_SET = 2000  # below this many images, DiffAugment is on when the recipe says "auto"


def _levels(image_size: int) -> int:
    return int(math.log2(image_size // 4))


def build_generator(config: dict) -> Generator:
    """The generator for a model config (the discriminator's `d_width` is not its business)."""
    return Generator(config["image_size"], config["channels"], config["latent_dim"], config["width"],
                     config["max_width"])


class Discriminator(nn.Module):
    """Images (N, channels, image_size, image_size) in [-1, 1] -> one realness score each (N,)."""

    def __init__(self, image_size: int = 32, channels: int = 3, width: int = 64, max_width: int = 512):
        super().__init__()
        levels = _levels(image_size)
        widths = [min(width * 2 ** i, max_width) for i in range(levels + 1)]
        layers = [spectral_norm(nn.Conv2d(channels, widths[0], 3, padding=1)), nn.LeakyReLU(0.2, inplace=True)]
        for w_in, w_out in zip(widths[:-1], widths[1:]):
            layers += [spectral_norm(nn.Conv2d(w_in, w_out, 4, stride=2, padding=1)), nn.LeakyReLU(0.2, inplace=True)]
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.score = spectral_norm(nn.Linear(widths[-1] * 16, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.score(self.body(x)).squeeze(1)


# -- DiffAugment --------------------------------------------------------------------------------------
# Written out here because it must be differentiable, applied identically to real and generated batches,
# and cheap; the maintained augmentation libraries we have (torchvision v2) are not differentiable w.r.t.
# their input in all ops. Follows the reference implementation (mit-han-lab/data-efficient-gans, BSD-2).

def _colour(x: torch.Tensor) -> torch.Tensor:
    n = x.shape[0]
    x = x + (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5)                 # brightness
    if x.shape[1] == 3:                                                                   # saturation
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) * 2) + mean
    mean = x.mean(dim=[1, 2, 3], keepdim=True)                                            # contrast
    return (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) + 0.5) + mean


def _translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    tx = torch.randint(-sh, sh + 1, (n, 1, 1), device=x.device)
    ty = torch.randint(-sw, sw + 1, (n, 1, 1), device=x.device)
    gb, gx, gy = torch.meshgrid(torch.arange(n, device=x.device), torch.arange(h, device=x.device),
                                torch.arange(w, device=x.device), indexing="ij")
    gx = torch.clamp(gx + tx + 1, 0, h + 1)
    gy = torch.clamp(gy + ty + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1])  # shifted-in pixels are zero (mid-grey in [-1, 1])
    return padded.permute(0, 2, 3, 1)[gb, gx, gy].permute(0, 3, 1, 2)


def _cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ox = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device)
    oy = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device)
    gb, gx, gy = torch.meshgrid(torch.arange(n, device=x.device), torch.arange(ch, device=x.device),
                                torch.arange(cw, device=x.device), indexing="ij")
    gx = torch.clamp(gx + ox - ch // 2, 0, h - 1)
    gy = torch.clamp(gy + oy - cw // 2, 0, w - 1)
    mask = torch.ones(n, h, w, device=x.device, dtype=x.dtype)
    mask[gb, gx, gy] = 0
    return x * mask.unsqueeze(1)


def diff_augment(x: torch.Tensor) -> torch.Tensor:
    """Random colour, translation (1/8 of the side) and cutout (a square of half the side), per image;
    differentiable with respect to `x` (N, C, H, W) in [-1, 1]."""
    return _cutout(_translation(_colour(x)))


def use_diffaugment(recipe_value, images: int) -> bool:
    """The recipe's "diffaugment" switch: True, False, or "auto" (on below SMALL_SET images)."""
    if recipe_value in (True, "on", "true", 1):
        return True
    if recipe_value in (False, "off", "false", 0):
        return False
    if recipe_value == "auto":
        return images < SMALL_SET
    raise StudioError(f"diffaugment must be 'auto', true or false; got {recipe_value!r}")


def _count_images(job_dir: Path | None) -> int:
    """How many training images the job holds, read from the data file's header (no tensor load)."""
    if job_dir is None or not (Path(job_dir) / "data.safetensors").is_file():
        return 0
    from safetensors import safe_open
    with safe_open(str(Path(job_dir) / "data.safetensors"), framework="pt") as f:
        return int(f.get_slice("data").get_shape()[0])


def _warmed_up_ema(decay: float):
    """AveragedModel's averaging function for an exponential moving average whose decay grows from 0.1 to
    `decay` as min(decay, (1 + n) / (10 + n)) over the n updates so far."""
    def average(averaged: torch.Tensor, current: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        count = int(n)
        return torch.lerp(averaged, current, 1 - min(decay, (1 + count) / (10 + count)))
    return average


class GANTrainer(Trainer):
    def __init__(self, config: dict, recipe: dict, accelerator, job_dir: Path | None = None):
        self.recipe, self.accelerator = recipe, accelerator
        if recipe["loss"] not in ("hinge", "non-saturating"):
            raise StudioError(f"loss must be 'hinge' or 'non-saturating'; got {recipe['loss']!r}")
        self.augment = use_diffaugment(recipe["diffaugment"], _count_images(job_dir))
        g = build_generator(config)
        d = Discriminator(config["image_size"], config["channels"], config["d_width"], config["max_width"])
        betas = (float(recipe["beta1"]), float(recipe["beta2"]))
        opt_g = torch.optim.Adam(g.parameters(), lr=recipe["learning_rate"], betas=betas)
        opt_d = torch.optim.Adam(d.parameters(), lr=recipe["d_learning_rate"], betas=betas)
        self.g, self.d, self.opt_g, self.opt_d = accelerator.prepare(g, d, opt_g, opt_d)
        # torch's AveragedModel keeps the moving average (a copy of the generator plus its update count, both
        # saved in checkpoints); the decay warms up as diffusers' EMAModel does, so the early steps are not
        # dominated by the random initialisation.
        self.ema = AveragedModel(accelerator.unwrap_model(self.g), avg_fn=_warmed_up_ema(float(recipe["ema_decay"])),
                                 use_buffers=False).eval().requires_grad_(False)

    def _d_input(self, x: torch.Tensor) -> torch.Tensor:
        return diff_augment(x) if self.augment else x

    def _d_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        if self.recipe["loss"] == "hinge":
            return F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean()
        return F.softplus(-real_scores).mean() + F.softplus(fake_scores).mean()

    def _g_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        if self.recipe["loss"] == "hinge":
            return -fake_scores.mean()
        return F.softplus(-fake_scores).mean()

    def train_step(self, batch: torch.Tensor, step: int) -> dict[str, float]:
        g_net = self.accelerator.unwrap_model(self.g)
        n = batch.shape[0]
        self.g.train()
        self.d.train()

        z = torch.randn(n, g_net.latent_dim, device=batch.device)
        with torch.no_grad():
            fake = self.g(z)
        real_scores = self.d(self._d_input(batch)).float()
        fake_scores = self.d(self._d_input(fake)).float()
        d_loss = self._d_loss(real_scores, fake_scores)
        self.opt_d.zero_grad(set_to_none=True)
        self.accelerator.backward(d_loss)
        self.opt_d.step()

        z = torch.randn(n, g_net.latent_dim, device=batch.device)
        g_loss = self._g_loss(self.d(self._d_input(self.g(z))).float())
        self.opt_g.zero_grad(set_to_none=True)
        self.accelerator.backward(g_loss)
        self.opt_g.step()

        self._update_ema(g_net, step)
        return {"generator": g_loss.item(), "discriminator": d_loss.item(),
                "real_score": real_scores.mean().item(), "fake_score": fake_scores.mean().item()}

    @torch.no_grad()
    def _update_ema(self, g_net: Generator, step: int) -> None:
        self.ema.update_parameters(g_net)
        for e, b in zip(self.ema.module.buffers(), g_net.buffers()):
            e.copy_(b)  # batch-norm running statistics follow the live generator

    @torch.no_grad()
    def preview(self, seeds: list[int]) -> torch.Tensor:
        ema = self.ema.module
        z = torch.stack([torch.randn(ema.latent_dim, generator=generator(s)) for s in seeds])
        device = next(ema.parameters()).device
        return ((ema(z.to(device)).float().cpu() + 1) / 2).clamp(0, 1)

    def modules(self):
        return {"generator": self.g, "discriminator": self.d, "ema_generator": self.ema}

    def optimizers(self):
        return {"generator_optimizer": self.opt_g, "discriminator_optimizer": self.opt_d}

    def export(self) -> Generator:
        return self.ema.module


# -- projection: an image into the GAN's latent space ------------------------------------------------
# A GAN has no encoder, so an artist's own image enters its latent space by gradient descent on z
# (Abdal et al., Image2StyleGAN, 2019; Karras et al., StyleGAN2 projector, 2020), with the generator frozen:
#
#     loss(z) = perceptual_weight * perceptual_distance(G(z), x) + pixel_weight * mean((G(z) - x)^2)
#               + prior_weight * (|z|^2 / dim - 1)^2
#
# The perceptual term (offline EfficientNet-Lite0 features, `studio.vision.perceptual`) matches shapes and
# texture; the pixel term matches colours; the prior keeps z near the sphere where Gaussian latents live, so that
# slerp from a projected latent to a seed's latent stays among images the generator makes well. Several
# random starts are scored and the best is optimised with Adam.

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
        candidates = torch.randn(starts, n, dim, generator=generator(seed))
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


class GANFamily(Family):
    name = "gan"
    kind = "image"
    title = "generative adversarial network (GAN)"
    image_sizes = SIZES
    settings = (
        Setting("truncation", 1.0, 0.0, 2.0,
                help="scales the latents toward their mean: below 1 is cleaner and less varied, above 1 wilder"),
    )
    config_bounds = {"image_size": choice(*SIZES), "channels": choice(1, 3), "latent_dim": whole(1, 1024),
                     "width": whole(1, 512), "d_width": whole(1, 512), "max_width": whole(1, 1024)}

    def default_config(self, image_size: int, channels: int) -> dict:
        width = {32: 64, 64: 48, 128: 32}[image_size]
        return {"image_size": image_size, "channels": channels, "latent_dim": 64, "width": width,
                "d_width": width // 2, "max_width": 512}

    def default_recipe(self) -> dict:
        # sample_every / checkpoint_every: 0 lets the shared loop choose (about 20 previews, 10 checkpoints).
        return {"steps": 3000, "batch_size": 64, "learning_rate": 2e-4, "d_learning_rate": 2e-4,
                "beta1": 0.0, "beta2": 0.99, "loss": "hinge", "diffaugment": "auto", "ema_decay": 0.999,
                "seed": 0, "flip": False, "sample_every": 0, "checkpoint_every": 0}

    def build(self, config: dict) -> Generator:
        return build_generator(config)

    def latents(self, model: LoadedModel, seeds: list[int]) -> torch.Tensor:
        return torch.stack([torch.randn(model.module.latent_dim, generator=generator(s)) for s in seeds])

    @torch.no_grad()
    def decode(self, model: LoadedModel, latents: torch.Tensor, settings: dict, progress=None,
               cancelled=None) -> torch.Tensor:
        # One forward pass: nothing to report or to stop part-way.
        z = latents * float(settings.get("truncation", 1.0))
        with inference_autocast(model.device):
            images = model.module(z.to(model.device))
        return ((images.float().cpu() + 1) / 2).clamp(0, 1)

    def encode(self, model: LoadedModel, images: torch.Tensor, settings: dict, *, steps: int = 200,
               seed: int = 0, progress=None, cancelled=None) -> Encoded:
        """Projection by optimisation (`project`), `steps` Adam steps; latents divided by the truncation that
        `decode` multiplies by, so each decodes to the projected image."""
        truncation = float(settings.get("truncation", 1.0))
        if truncation <= 0:
            raise StudioError("truncation 0 maps every latent to the same image; use a truncation above 0 "
                              "to take your own images into the model")

        def report(step, total, loss):
            if progress is not None:
                progress(step / total, f"projecting your images into the GAN: step {step}/{total}, loss {loss:.3f}")

        result = project(model.module, images, steps=steps, seed=seed, progress=report, cancelled=cancelled)
        return Encoded(result.latents / truncation, "projection", result.stopped_early)

    def trainer(self, config: dict, recipe: dict, accelerator, job_dir=None) -> GANTrainer:
        return GANTrainer(config, recipe, accelerator, job_dir)
