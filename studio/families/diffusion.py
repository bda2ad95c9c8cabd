"""Denoising diffusion (DDPM, Ho et al., 2020) with diffusers: a `UNet2DModel` trained to predict the noise
added by a `DDPMScheduler`, an exponential moving average of its weights (diffusers' `EMAModel`) used for
sampling, and sampling with DDIM, DPM-Solver++ or ancestral DDPM (diffusers schedulers).

A saved model is a diffusers pipeline folder (`model_index.json`, `unet/`, `scheduler/`, written by
`DDPMPipeline.save_pretrained`), so `diffusers.DDPMPipeline.from_pretrained(<model folder>)` loads a studio
model. An artist's own image enters the latent space by DDIM inversion (`ddim_invert`): the noise from
which deterministic DDIM sampling redraws it.
"""
from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..core.devices import inference_autocast
from ..core.errors import StudioError
from ..core.seeds import generator
from .base import Encoded, Family, LoadedModel, Setting, Trainer
from .checks import (
    check_values,
    choice,
    expected_shapes,
    flag,
    flags,
    number,
    read_json_file,
    text,
    texts,
    whole,
    wholes,
)

SIZES = (16, 32, 64)
SAMPLERS = ("ddim", "dpm++", "ddpm")
BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2", "sigmoid")

# What a stored model's own diffusers files may say. `load` builds the UNet from `unet/config.json` and the
# noise schedule from `scheduler/scheduler_config.json` (not from studio.json), so their values are what
# decides the memory a model takes: each is bounded. Keys starting with "_" are diffusers' bookkeeping.
DOWN_BLOCKS = ("DownBlock2D", "AttnDownBlock2D", "ResnetDownsampleBlock2D", "SkipDownBlock2D", "AttnSkipDownBlock2D")
UP_BLOCKS = ("UpBlock2D", "AttnUpBlock2D", "ResnetUpsampleBlock2D", "SkipUpBlock2D", "AttnSkipUpBlock2D")
UNET_BOUNDS = {
    "sample_size": whole(4, 256), "in_channels": whole(1, 4), "out_channels": whole(1, 4),
    "center_input_sample": flag(optional=True),
    "time_embedding_type": choice("positional", "fourier", "learned", optional=True),
    "time_embedding_dim": whole(1, 4096, optional=True), "freq_shift": number(0, 10, optional=True),
    "flip_sin_to_cos": flag(optional=True),
    "down_block_types": texts(32, 1, 6), "up_block_types": texts(32, 1, 6),
    "mid_block_type": choice("UNetMidBlock2D", optional=True),
    "block_out_channels": wholes(8, 1024, 1, 6), "layers_per_block": whole(1, 4),
    "mid_block_scale_factor": number(0, 10, optional=True), "downsample_padding": whole(0, 4, optional=True),
    "downsample_type": choice("conv", "resnet", optional=True), "upsample_type": choice("conv", "resnet", optional=True),
    "dropout": number(0, 1, optional=True), "act_fn": choice("silu", "swish", "mish", "gelu", "relu", optional=True),
    "attention_head_dim": whole(1, 1024, optional=True), "norm_num_groups": whole(1, 128, optional=True),
    "attn_norm_num_groups": whole(1, 128, optional=True), "norm_eps": number(0, 1, optional=True),
    "resnet_time_scale_shift": choice("default", "scale_shift", optional=True), "add_attention": flag(optional=True),
    "class_embed_type": choice("timestep", "identity", optional=True),
    "num_class_embeds": whole(1, 10_000, optional=True), "num_train_timesteps": whole(1, 10_000, optional=True),
}
SCHEDULER_BOUNDS = {
    "num_train_timesteps": whole(1, 10_000), "beta_start": number(0, 1, optional=True),
    "beta_end": number(0, 1, optional=True), "beta_schedule": choice(*BETA_SCHEDULES, optional=True),
    "trained_betas": choice(None, optional=True),  # a list would be as long as it says: not accepted
    "variance_type": choice("fixed_small", "fixed_small_log", "fixed_large", "fixed_large_log", "learned",
                            "learned_range", optional=True),
    "clip_sample": flag(optional=True), "clip_sample_range": number(0, 100, optional=True),
    "prediction_type": choice("epsilon", "sample", "v_prediction", optional=True),
    "thresholding": flag(optional=True), "dynamic_thresholding_ratio": number(0, 1, optional=True),
    "sample_max_value": number(0, 100, optional=True),
    "timestep_spacing": choice("leading", "trailing", "linspace", optional=True),
    "steps_offset": whole(0, 1000, optional=True), "rescale_betas_zero_snr": flag(optional=True),
    "set_alpha_to_one": flag(optional=True), "skip_prk_steps": flag(optional=True),
}


def check_unet_config(config: dict) -> dict:
    """A diffusers `UNet2DModel` config within UNET_BOUNDS, with one block type per width."""
    check_values(config, UNET_BOUNDS, "unet/config.json", ignore=lambda key: key.startswith("_"))
    if config.get("_class_name", "UNet2DModel") != "UNet2DModel":
        raise StudioError("unet/config.json must describe a UNet2DModel (unconditional images)")
    widths = config["block_out_channels"]
    for key, allowed in (("down_block_types", DOWN_BLOCKS), ("up_block_types", UP_BLOCKS)):
        blocks = config[key]
        if len(blocks) != len(widths):
            raise StudioError(f"unet/config.json needs one {key} entry per block_out_channels entry")
        wrong = [b for b in blocks if b not in allowed]
        if wrong:
            raise StudioError(f"unet/config.json: {key} may hold {', '.join(allowed)}; got {wrong[0]!r}")
    groups = config.get("norm_num_groups") or 32
    if any(w % groups for w in widths):
        raise StudioError(f"unet/config.json: every block_out_channels entry must be a multiple of "
                          f"norm_num_groups ({groups})")
    return config


def unet_from_config(config: dict):
    """The diffusers UNet for a studio config: one down/up block per width, attention where asked."""
    from diffusers import UNet2DModel

    widths = tuple(int(w) for w in config["block_out_channels"])
    attention = tuple(bool(a) for a in config["attention"])
    if len(attention) != len(widths):
        raise StudioError("the diffusion config needs one attention flag per block width")
    return UNet2DModel(
        sample_size=config["image_size"], in_channels=config["channels"], out_channels=config["channels"],
        block_out_channels=widths, layers_per_block=config["layers_per_block"],
        down_block_types=tuple("AttnDownBlock2D" if a else "DownBlock2D" for a in attention),
        up_block_types=tuple("AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attention)),
        norm_num_groups=config["norm_num_groups"], attention_head_dim=config["attention_head_dim"],
        add_attention=config["mid_attention"])


def training_scheduler(config: dict):
    # The folder saves this config (scheduler/), so it carries the spacing the studio samples with and a plain
    # diffusers pipeline samples as well as the studio does; training never reads the spacing.
    from diffusers import DDPMScheduler
    return DDPMScheduler(num_train_timesteps=config["num_train_timesteps"], beta_schedule=config["beta_schedule"],
                         prediction_type="epsilon", clip_sample=True, timestep_spacing=TIMESTEP_SPACING)


# Timesteps spaced "trailing", so the first step starts from pure noise (see `sampling_scheduler`).
TIMESTEP_SPACING = "trailing"


def sampling_scheduler(sampler: str, scheduler_config: dict):
    """A sampler's scheduler built from the training DDPMScheduler's config (same noise schedule).

    Timesteps are spaced "trailing" (Lin et al. 2024, "Common Diffusion Noise Schedules and Sample Steps are
    Flawed"): the first step is the last training timestep, where the latent really is pure noise. diffusers'
    default "leading" spacing starts 25 steps at t = 960, where the cosine schedule still keeps 6% of the
    image: sampling from pure noise there is a mismatch that costs few-step samplers much of their quality.
    """
    from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler
    config = {**scheduler_config, "timestep_spacing": TIMESTEP_SPACING}
    if sampler == "ddim":
        return DDIMScheduler.from_config(config)
    if sampler == "dpm++":
        # DPM-Solver++ predicts the clean image as (x - sigma * eps) / alpha. At the first trailing timestep of
        # the cosine schedule alpha is 5e-5, so any error in eps is multiplied 20,000-fold; DDIM clips that
        # prediction to [-1, 1] (clip_sample), and dynamic thresholding does the same here, as diffusers
        # recommends for pixel-space models.
        return DPMSolverMultistepScheduler.from_config(config, algorithm_type="dpmsolver++", solver_order=2,
                                                       thresholding=True, sample_max_value=1.0)
    if sampler == "ddpm":
        return DDPMScheduler.from_config(config)
    raise StudioError(f"sampler must be one of {', '.join(SAMPLERS)}; got {sampler!r}")


def _noise_seed(latent: torch.Tensor) -> int:
    # Stochastic samplers (DDPM, DDIM with eta > 0) draw fresh noise at every step. Seeding that noise from the
    # image's own starting latent keeps each image independent of the others in its batch and makes decode a
    # pure function of its inputs, so a PNG's seed reproduces it exactly.
    return int.from_bytes(hashlib.sha256(latent.float().cpu().numpy().tobytes()).digest()[:8], "little") >> 1


@torch.no_grad()
def denoise(unet, scheduler_config: dict, latents: torch.Tensor, sampler: str = "ddim", steps: int = 25,
            eta: float = 0.0, device: torch.device | None = None, progress: Callable[[int, int], None] | None = None,
            cancelled: Callable[[], bool] | None = None) -> torch.Tensor:
    """Run a sampler from starting noise `latents` (N, C, H, W) to images (N, C, H, W) in [0, 1] on the CPU.

    `progress(done, steps)` is called after each denoising step; `cancelled()` turning True stops the loop
    before its next step with InterruptedError (a step of a 16-image batch takes well under a second on a CPU,
    so Stop is felt at once)."""
    device = device or next(unet.parameters()).device
    scheduler = sampling_scheduler(sampler, scheduler_config)
    if not 1 <= steps <= scheduler.config.num_train_timesteps:
        raise StudioError(f"steps must be between 1 and {scheduler.config.num_train_timesteps} for this model "
                          f"(it was trained with {scheduler.config.num_train_timesteps} noise levels); got {steps}")
    scheduler.set_timesteps(steps)
    noise_generators = [generator(_noise_seed(z)) for z in latents]
    x = latents.to(device) * scheduler.init_noise_sigma
    for i, t in enumerate(scheduler.timesteps):
        if cancelled is not None and cancelled():
            raise InterruptedError("cancelled")
        with inference_autocast(device):
            eps = unet(scheduler.scale_model_input(x, t), t).sample.float()
        extra = {"generator": noise_generators} if sampler in ("ddpm", "ddim") else {}
        if sampler == "ddim":
            extra["eta"] = eta
        x = scheduler.step(eps, t, x, **extra).prev_sample
        if progress is not None:
            progress(i + 1, len(scheduler.timesteps))
    return ((x.float().cpu() + 1) / 2).clamp(0, 1)


class EMAWeights(nn.Module):
    """The moving-average UNet as a module, so checkpoints (safetensors) keep it and resume restores it.

    diffusers' `EMAModel` keeps its averages as a list of tensors; we point that list at this module's
    parameters, so `EMAModel.step` (which updates in place) writes straight into them. The update count (which
    sets the warm-up of the decay) is a buffer here, copied to and from the EMAModel around each step."""

    def __init__(self, unet: nn.Module):
        super().__init__()
        self.unet = unet
        self.register_buffer("optimization_step", torch.zeros((), dtype=torch.int64))


class DiffusionTrainer(Trainer):
    """DDPM training of a UNet with an EMA copy for sampling. `unet` and `noise_scheduler` start a fine-tune
    from a base model's (its weights, or a peft-wrapped copy of it where only the adapter trains); by
    default a fresh UNet is built from `config`. Only parameters that require grad are optimised."""

    def __init__(self, config: dict, recipe: dict, accelerator, unet=None, noise_scheduler=None):
        from diffusers.training_utils import EMAModel

        self.config, self.recipe, self.accelerator = config, recipe, accelerator
        self.noise_scheduler = noise_scheduler or training_scheduler(config)
        unet = unet if unet is not None else unet_from_config(config)
        opt = torch.optim.AdamW([p for p in unet.parameters() if p.requires_grad], lr=recipe["learning_rate"],
                                weight_decay=0.0)
        self.unet, self.opt = accelerator.prepare(unet, opt)
        live = accelerator.unwrap_model(self.unet)
        self.ema_weights = EMAWeights(copy.deepcopy(live).requires_grad_(False).eval())
        self.ema = EMAModel(live.parameters(), decay=recipe["ema_decay"], use_ema_warmup=True, inv_gamma=1.0,
                            power=3 / 4)
        self.ema.shadow_params = [p.data for p in self.ema_weights.unet.parameters()]

    def train_step(self, batch: torch.Tensor, step: int) -> dict[str, float]:
        self.unet.train()
        noise = torch.randn_like(batch)
        t = torch.randint(0, self.noise_scheduler.config.num_train_timesteps, (batch.shape[0],), device=batch.device)
        noisy = self.noise_scheduler.add_noise(batch, noise, t)
        loss = F.mse_loss(self.unet(noisy, t).sample.float(), noise.float())
        self.opt.zero_grad(set_to_none=True)
        self.accelerator.backward(loss)
        if self.recipe.get("grad_clip"):
            self.accelerator.clip_grad_norm_([p for p in self.unet.parameters() if p.requires_grad],
                                             float(self.recipe["grad_clip"]))
        self.opt.step()
        self.ema.optimization_step = int(self.ema_weights.optimization_step)
        self.ema.step(self.accelerator.unwrap_model(self.unet).parameters())
        self.ema_weights.optimization_step.fill_(self.ema.optimization_step)
        return {"loss": loss.item()}

    @torch.no_grad()
    def preview(self, seeds: list[int]) -> torch.Tensor:
        unet = self.ema_weights.unet
        shape = (unet.config.in_channels, unet.config.sample_size, unet.config.sample_size)
        latents = torch.stack([torch.randn(shape, generator=generator(s)) for s in seeds])
        return denoise(unet, dict(self.noise_scheduler.config), latents, "ddim",
                       int(self.recipe.get("preview_steps") or 25))

    def modules(self):
        return {"unet": self.unet, "ema": self.ema_weights}

    def optimizers(self):
        return {"optimizer": self.opt}

    def export(self):
        """A diffusers DDPMPipeline of the EMA UNet and the training scheduler (what `save_pretrained` writes)."""
        from diffusers import DDPMPipeline
        return DDPMPipeline(unet=self.ema_weights.unet, scheduler=self.noise_scheduler)


# -- DDIM inversion: an image into the model's latent space ------------------------------------------
# DDIM with eta 0 is an ODE; running its steps backwards (Song et al., 2021; diffusers
# `DDIMInverseScheduler`) carries an image x_0 to a noise x_T that DDIM sampling with the same number of
# steps maps back close to x_0. The error comes from using the noise prediction at the previous step's
# sample; it shrinks as the step count grows. The noise is then a keyframe like any seed's noise.
# The "ddim" sampler (`denoise`, eta 0) walks the same timesteps back, so sampling the inverted noise with
# the same step count reconstructs the image.

@torch.no_grad()
def ddim_invert(unet, scheduler_config: dict, images: torch.Tensor, steps: int = 50,
                progress: Callable[[int, int], None] | None = None,
                cancelled: Callable[[], bool] | None = None) -> torch.Tensor:
    """Images (N, C, H, W) in [0, 1] at the UNet's size -> noise (N, C, H, W) at DDIM's first timestep.

    `scheduler_config` is the model's DDPMScheduler config (dict); `steps` must equal the DDIM steps used to
    sample the noise back. Raises InterruptedError when `cancelled()` turns True between steps.
    """
    from diffusers import DDIMInverseScheduler

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


class DiffusionFamily(Family):
    name = "diffusion"
    kind = "image"
    title = "diffusion model (DDPM)"
    library_name = "diffusers"
    image_sizes = SIZES
    settings = (
        Setting("sampler", "ddim", choices=SAMPLERS,
                help="ddim: deterministic at eta 0; dpm++: DPM-Solver++, good in 10-25 steps; ddpm: ancestral, "
                     "fresh noise each step, which hides more of a briefly trained model's errors"),
        Setting("steps", 25, 10, 1000, help="denoising steps: more is slower and (up to a point) cleaner"),
        Setting("eta", 0.0, 0.0, 1.0, help="DDIM only: 0 is deterministic, 1 adds fresh noise like DDPM"),
    )

    # The studio config is what training wrote; a pipeline imported with `import_diffusers_pipeline` records
    # only its size, channels and source. What is built comes from the diffusers files (`expected_weights`).
    config_bounds = {
        "image_size": whole(4, 256), "channels": whole(1, 4),
        "block_out_channels": wholes(8, 1024, 1, 6, optional=True), "attention": flags(1, 6, optional=True),
        "layers_per_block": whole(1, 4, optional=True), "norm_num_groups": whole(1, 128, optional=True),
        "attention_head_dim": whole(1, 1024, optional=True), "mid_attention": flag(optional=True),
        "num_train_timesteps": whole(1, 10_000, optional=True), "beta_schedule": choice(*BETA_SCHEDULES, optional=True),
        "imported_from": text(256, optional=True),
        # A full fine-tune records the model it started from (a name in this studio) and that model's weights hash.
        "fine_tuned_from": text(64, optional=True), "base_weights": text(128, optional=True),
    }

    def check_config_rules(self, config: dict) -> None:
        widths, attention = config.get("block_out_channels"), config.get("attention")
        if widths is not None and attention is not None and len(widths) != len(attention):
            raise StudioError("the diffusion config needs one attention flag per block width")

    def expected_weights(self, folder: Path, config: dict):
        """The UNet's weights as its own `unet/config.json` gives them, after bounding every value of it and
        of the noise schedule."""
        from diffusers import UNet2DModel

        unet_config = check_unet_config(read_json_file(folder / "unet" / "config.json"))
        check_values(read_json_file(folder / "scheduler" / "scheduler_config.json"), SCHEDULER_BOUNDS,
                     "scheduler/scheduler_config.json", ignore=lambda key: key.startswith("_"))
        clean = {k: v for k, v in unet_config.items() if not k.startswith("_")}
        return {"unet/diffusion_pytorch_model.safetensors": expected_shapes(lambda: UNet2DModel.from_config(clean))}

    def check_settings(self, given: dict) -> dict:
        checked = super().check_settings(given)
        if checked["sampler"] != "ddim" and checked["eta"] != 0:
            raise StudioError(f"eta applies to the ddim sampler only; set eta to 0 for {checked['sampler']}")
        return checked

    def default_config(self, image_size: int, channels: int) -> dict:
        return {"image_size": image_size, "channels": channels, "block_out_channels": [32, 64, 64],
                "attention": [False, False, True], "layers_per_block": 1, "norm_num_groups": 8,
                "attention_head_dim": 8, "mid_attention": True, "num_train_timesteps": 1000,
                "beta_schedule": "squaredcos_cap_v2"}

    def default_recipe(self) -> dict:
        # sample_every / checkpoint_every: 0 lets the shared loop choose.
        return {"steps": 3000, "batch_size": 64, "learning_rate": 5e-4, "ema_decay": 0.999, "grad_clip": 1.0,
                "preview_steps": 25, "seed": 0, "flip": False, "sample_every": 0, "checkpoint_every": 0}

    def build(self, config: dict):
        return unet_from_config(config)

    def save(self, module, folder: Path) -> None:
        """Write a diffusers pipeline folder (model_index.json, unet/, scheduler/) with safetensors weights."""
        from diffusers import DDPMPipeline
        if not isinstance(module, DDPMPipeline):  # a bare UNet would lose its noise schedule
            raise TypeError("diffusion models are saved from a DDPMPipeline (UNet + scheduler)")
        module.save_pretrained(str(folder), safe_serialization=True)

    def load(self, folder: Path, meta: dict, device: torch.device) -> LoadedModel:
        from diffusers import DDPMScheduler, UNet2DModel
        if not (folder / "unet" / "diffusion_pytorch_model.safetensors").is_file():
            raise StudioError("unet/diffusion_pytorch_model.safetensors is missing (diffusion models are diffusers "
                              "pipeline folders with safetensors weights)")
        try:
            unet = UNet2DModel.from_pretrained(str(folder / "unet"), use_safetensors=True)
            scheduler_config = dict(DDPMScheduler.from_pretrained(str(folder / "scheduler")).config)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise StudioError(f"the diffusion model in {folder.name} does not load ({exc})") from None
        unet.to(device).eval()
        return LoadedModel(name=meta.get("name", folder.name), family=self, meta=meta, module=unet, device=device,
                           extras={"scheduler_config": scheduler_config})

    def latents(self, model: LoadedModel, seeds: list[int]) -> torch.Tensor:
        cfg = model.module.config
        size = cfg.sample_size if isinstance(cfg.sample_size, int) else tuple(cfg.sample_size)
        shape = (cfg.in_channels, *((size, size) if isinstance(size, int) else size))
        return torch.stack([torch.randn(shape, generator=generator(s)) for s in seeds])

    def decode(self, model: LoadedModel, latents: torch.Tensor, settings: dict, progress=None,
               cancelled=None) -> torch.Tensor:
        return denoise(model.module, model.extras["scheduler_config"], latents, settings.get("sampler", "ddim"),
                       int(settings.get("steps", 25)), float(settings.get("eta", 0.0)), model.device,
                       progress=progress, cancelled=cancelled)

    def encode(self, model: LoadedModel, images: torch.Tensor, settings: dict, *, steps: int = 200,
               seed: int = 0, progress=None, cancelled=None) -> Encoded:
        """DDIM inversion with the sampling settings' step count (the step count the animation samples with)."""
        total = int(settings["steps"])

        def report(step, n):
            if progress is not None:
                progress(step / n, f"DDIM inversion of your images: step {step}/{n}")

        try:
            latents = ddim_invert(model.module, model.extras["scheduler_config"], images, total, progress=report,
                                  cancelled=cancelled)
        except InterruptedError:
            raise StudioError("cancelled") from None
        return Encoded(latents, "ddim-inversion")

    def trainer(self, config: dict, recipe: dict, accelerator, job_dir=None) -> DiffusionTrainer:
        if not config.get("fine_tuned_from"):
            return DiffusionTrainer(config, recipe, accelerator)
        # A full fine-tune: every weight trains, starting from the base model's, which the training service
        # copied into the job (so the job resumes even if the base is renamed or deleted meanwhile).
        unet, scheduler = load_job_base(job_dir)
        return DiffusionTrainer(config, recipe, accelerator, unet=unet, noise_scheduler=scheduler)


BASE_IN_JOB = "base"  # the base model's pipeline folder, copied into a fine-tuning job's folder


def load_pipeline(folder: Path):
    """(UNet, DDPMScheduler) from a diffusion model's pipeline folder, on the CPU, in training mode."""
    from diffusers import DDPMScheduler, UNet2DModel

    folder = Path(folder)
    if not (folder / "unet" / "diffusion_pytorch_model.safetensors").is_file():
        raise StudioError(f"{folder.name}/unet/diffusion_pytorch_model.safetensors is missing")
    try:
        unet = UNet2DModel.from_pretrained(str(folder / "unet"), use_safetensors=True)
        scheduler = DDPMScheduler.from_pretrained(str(folder / "scheduler"))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise StudioError(f"the diffusion model in {folder.name} does not load ({exc})") from None
    return unet.train(), scheduler


def load_job_base(job_dir: Path):
    """(UNet, DDPMScheduler) of the base model copied into a fine-tuning job (`<job>/base/`)."""
    return load_pipeline(Path(job_dir) / BASE_IN_JOB)
