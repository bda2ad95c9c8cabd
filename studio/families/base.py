"""The small protocol through which a model family plugs into the services and the training worker.

A family is one module (`studio/families/<name>.py`) that owns everything about its kind of model:
building it from a config, saving and loading its folder, its training step (a `Trainer`), sampling, its
way into latent space (`encode`) and, for style families, stylising; plus one line in
`studio/families/__init__.py`. Families import only the floors below them (core, data, vision, style),
never a service, the UI or Gradio.

Conventions for image families:
- training batches are float tensors (N, C, H, W) in [-1, 1];
- `decode` returns float tensors (N, C, H, W) in [0, 1] on the CPU;
- latents are drawn per seed on the CPU (one generator per image), so image i of a batch with seeds
  [s0, s1, ...] is the image a batch of one gives for seed si.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors.torch import load_file, save_file

from ..core.errors import StudioError
from .checks import Bound, check_values, check_weights, expected_shapes


@dataclass(frozen=True)
class Setting:
    """One sampling setting a family accepts, with its range and default (used to validate requests)."""
    name: str
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    help: str = ""

    def check(self, value: Any) -> Any:
        if value is None:
            return self.default
        if self.choices is not None:
            if value not in self.choices:
                raise StudioError(f"{self.name} must be one of {', '.join(self.choices)}; got {value!r}")
            return value
        try:
            value = type(self.default)(value)
        except (TypeError, ValueError):
            raise StudioError(f"{self.name} must be a number; got {value!r}") from None
        if self.minimum is not None and value < self.minimum or self.maximum is not None and value > self.maximum:
            raise StudioError(f"{self.name} must be between {self.minimum} and {self.maximum}; got {value}")
        return value


@dataclass
class LoadedModel:
    """A model ready to sample: its registry name and metadata, the network(s) and the device."""
    name: str
    family: "Family"
    meta: dict
    module: Any
    device: torch.device
    weights_hash: str = ""
    extras: dict = field(default_factory=dict)


@dataclass
class Encoded:
    """Images carried into a model's latent space by `Family.encode`."""
    latents: torch.Tensor          # (N, *latent shape), as `Family.latents` returns for seeds
    method: str                    # "encoder", "projection" or "ddim-inversion"
    stopped_early: bool = False    # `cancelled()` turned True before the method finished


class Trainer:
    """One family's training state: networks, optimisers, the step, previews and checkpoints.

    The shared loop in `studio/train.py` owns data, progress, cancel, resume and saving; a trainer owns
    only what differs between families.
    """

    def train_step(self, batch: torch.Tensor, step: int) -> dict[str, float]:
        """Optimisation step number `step` (from 0) on a batch; returns the losses to plot (plain floats)."""
        raise NotImplementedError

    def items_in(self, batch: torch.Tensor) -> int:
        """How many units of `unit` a batch holds, for the speed shown while training."""
        return batch.shape[0]

    unit = "images"

    @torch.no_grad()
    def preview(self, seeds: list[int]) -> "torch.Tensor | str":
        """From the model as it is now: images (N, C, H, W) in [0, 1] for the live sample grid, or, for
        text families, a string of samples."""
        raise NotImplementedError

    def modules(self) -> dict[str, torch.nn.Module]:
        """Every network whose weights a checkpoint keeps, by name."""
        raise NotImplementedError

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Every optimiser whose state a checkpoint keeps, by name."""
        raise NotImplementedError

    def export(self) -> torch.nn.Module:
        """The network that becomes the saved model (for example the EMA copy of a generator)."""
        raise NotImplementedError

    def final_metrics(self) -> dict:
        """Measurements to record in the model's studio.json and card when training ends (e.g. validation
        loss); none by default."""
        return {}

    def start_from(self, weights: dict[str, torch.Tensor]) -> list[str]:
        """Start training from a saved model's weights (every tensor of its safetensors files, by name)
        instead of from scratch; returns the names of the networks that took them.

        A network in `modules()` takes the weights when its own state (or that of one direct submodule, as
        the diffusion trainer's EMA copy holds its UNet) has exactly those tensor names and shapes, give or
        take weights tied to others (GPT-2's output layer is its embedding). Networks the saved model does
        not hold (a GAN's discriminator) start fresh. Optimiser state always starts fresh."""
        unwrap = getattr(getattr(self, "accelerator", None), "unwrap_model", lambda m: m)
        took = []
        for name, module in self.modules().items():
            module = unwrap(module)
            targets = [module] + [child for _, child in module.named_children()]
            for target in targets:
                if _load_matching(target, weights):
                    took.append(name)
                    break
        if not took:
            raise StudioError("the saved model's weights fit none of this family's networks; it cannot be "
                              "trained further here")
        return took


class Family:
    """Base class of a model family. Subclasses set the class attributes and implement the methods."""

    name: str = ""                 # registry key, e.g. "vae"
    kind: str = "image"            # "image", "text" or "style"
    title: str = ""                # for people, e.g. "Variational autoencoder"
    library_name: str = "pytorch"  # model card front-matter
    pipeline_tag: str = "unconditional-image-generation"
    image_sizes: tuple[int, ...] = ()  # image families: the sizes they train at
    settings: tuple[Setting, ...] = ()  # sampling settings, validated by `check_settings`
    # Every architecture key of `default_config` and the values it may take (see `check_config`). The bounds
    # are wide enough for any model the studio trains and narrow enough that building one stays cheap.
    config_bounds: dict[str, Bound] = {}

    # -- building and storing -------------------------------------------------------------------
    def default_config(self, image_size: int, channels: int) -> dict:
        """The architecture for images of `image_size` px and `channels` (1 or 3) channels."""
        raise NotImplementedError

    def default_recipe(self) -> dict:
        """Training hyper-parameters, overridable one by one from the UI, API or command line."""
        raise NotImplementedError

    def build(self, config: dict) -> torch.nn.Module:
        raise NotImplementedError

    def save(self, module: torch.nn.Module, folder: Path) -> None:
        """Write the weights into `folder` (safetensors). The registry writes studio.json and the card.

        The studio's own networks (`families/networks/`) carry huggingface_hub's `PyTorchModelHubMixin`: they
        are saved by it (config.json + model.safetensors) with their source file beside, so the folder loads
        with one `from_pretrained` call without the studio."""
        from huggingface_hub import PyTorchModelHubMixin

        if isinstance(module, PyTorchModelHubMixin):
            module.save_pretrained(folder)
            (folder / "README.md").unlink(missing_ok=True)  # the mixin's stub card; the registry writes ours
            copy_network_source(module, folder)
            return
        save_file({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()},
                  str(folder / "model.safetensors"))

    def load(self, folder: Path, meta: dict, device: torch.device) -> LoadedModel:
        """Build the network from `meta["config"]` and load the weights, without pickle."""
        module = self.build(meta["config"])
        load_state(module, folder / "model.safetensors")
        module.to(device).eval()
        return LoadedModel(name=meta.get("name", folder.name), family=self, meta=meta, module=module, device=device)

    # -- checking a stored model before it is built ---------------------------------------------
    def check_config(self, config: dict) -> dict:
        """`config` (studio.json's "config", or a training request's) with every key known and every value
        within `config_bounds`, checked before anything is built; a StudioError naming the first key that is
        not. Families add rules between values in `check_config_rules`."""
        check_values(config, self.config_bounds, "the model config")
        self.check_config_rules(config)
        return config

    def check_config_rules(self, config: dict) -> None:
        """Rules between config values (a width divisible by a group count, one flag per block); none here."""

    def expected_weights(self, folder: Path, config: dict) -> dict[str, tuple[dict[str, tuple[int, ...]], set[str]]]:
        """For each weights file `load` reads (its path inside the folder): the tensor shapes it must hold
        and the tied duplicates it may leave out, computed on the meta device (no memory). Families that
        build from their own config files (diffusers, transformers) check those files' values here first."""
        return {"model.safetensors": expected_shapes(lambda: self.build(config))}

    def check_stored(self, folder: Path, meta: dict) -> None:
        """Everything `load` will read from a folder that came from outside (an imported archive), checked
        before `load` runs: every config value within bounds, then each weights file's header against the
        shapes those values give. Only the headers are read, so refusing a hostile model costs nothing."""
        config = self.check_config(meta.get("config"))
        for relative, (shapes, tied) in self.expected_weights(folder, config).items():
            check_weights(folder / relative, shapes, tied)

    # -- sampling -------------------------------------------------------------------------------
    def check_settings(self, given: dict) -> dict:
        """Fill defaults and validate ranges; refuse settings that belong to other families."""
        known = {s.name: s for s in self.settings}
        for key, value in given.items():
            if value is not None and key not in known:
                raise StudioError(f"'{key}' is not a setting of {self.title} models; "
                                  f"they take: {', '.join(known) or 'no settings'}")
        return {name: s.check(given.get(name)) for name, s in known.items()}

    def latents(self, model: LoadedModel, seeds: list[int]) -> torch.Tensor:
        """The starting latents for each seed, drawn on the CPU, one generator per seed."""
        raise NotImplementedError

    def decode(self, model: LoadedModel, latents: torch.Tensor, settings: dict,
               progress: Callable[[int, int], None] | None = None,
               cancelled: Callable[[], bool] | None = None) -> torch.Tensor:
        """Images (N, C, H, W) in [0, 1] on the CPU for the given latents.

        Iterative decoders (diffusion) call `progress(done, total)` after each of their steps and raise
        InterruptedError when `cancelled()` turns True between steps; one-pass decoders may ignore both."""
        raise NotImplementedError

    def sample(self, model: LoadedModel, seeds: list[int], settings: dict,
               progress: Callable[[int, int], None] | None = None,
               cancelled: Callable[[], bool] | None = None) -> torch.Tensor:
        return self.decode(model, self.latents(model, seeds), settings, progress=progress, cancelled=cancelled)

    def encode(self, model: LoadedModel, images: torch.Tensor, settings: dict, *, steps: int = 200,
               seed: int = 0, progress: Callable[[float, str], None] | None = None,
               cancelled: Callable[[], bool] | None = None) -> Encoded:
        """The artist's images (N, C, H, W) in [0, 1], at the model's size and channels -> latents that
        `decode(latents, settings)` turns back into (nearly) those images. `steps` bounds slow methods
        (optimisation, inversion); `progress(fraction, description)` reports them; `cancelled()` True
        stops them early. Families without a way in refuse."""
        raise StudioError(f"{self.title} models cannot take your own images as keyframes yet; use seeds")

    # -- training -------------------------------------------------------------------------------
    def trainer(self, config: dict, recipe: dict, accelerator, job_dir: Path) -> Trainer:
        """The family's training state. `job_dir` holds spec.json and data.safetensors (and any files the
        family's data preparation wrote there, such as a tokenizer)."""
        raise NotImplementedError

    def loader(self, data: dict[str, torch.Tensor], recipe: dict, seed: int):
        """An endless-able iterable of training batches from the job's data tensors.

        Image families: `data["data"]` is uint8 (N, C, H, W); batches are float in [-1, 1], reshuffled each
        epoch, flipped left-right at random when `recipe["flip"]`.
        """
        from torch.utils.data import DataLoader, Dataset

        images, flip = data["data"], bool(recipe.get("flip"))

        class Images(Dataset):
            def __len__(self):
                return images.shape[0]

            def __getitem__(self, i):
                x = images[i].float() / 127.5 - 1.0
                if flip and torch.rand(()) < 0.5:
                    x = x.flip(-1)
                return x

        g = torch.Generator().manual_seed(seed)
        bs = min(int(recipe["batch_size"]), images.shape[0])
        return DataLoader(Images(), batch_size=bs, shuffle=True, drop_last=True, generator=g, num_workers=0)


def _load_matching(module: torch.nn.Module, weights: dict[str, torch.Tensor]) -> bool:
    """Load `weights` into `module` if they cover its state exactly (names and shapes), allowing only
    missing entries that share memory with loaded ones (tied weights); True when loaded."""
    state = module.state_dict()
    if not weights or any(k not in state or state[k].shape != v.shape for k, v in weights.items()):
        return False
    loaded_ptrs = {state[k].data_ptr() for k in weights}
    missing = [k for k in state if k not in weights]
    if any(state[k].data_ptr() not in loaded_ptrs for k in missing):
        return False
    module.load_state_dict(weights, strict=False)
    return True


def load_state(module: torch.nn.Module, path: Path) -> None:
    """Load safetensors weights into `module`, turning every kind of mismatch into a clear StudioError."""
    try:
        state = load_file(str(path))
    except FileNotFoundError:
        raise StudioError(f"weights file {path.name} is missing") from None
    except Exception as exc:  # safetensors raises its own error types for truncated or foreign files
        raise StudioError(f"weights file {path.name} is corrupt or not safetensors ({exc})") from None
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise StudioError(f"weights in {path.name} do not fit this model's architecture ({first})") from None


def copy_network_source(module: torch.nn.Module, folder: Path) -> Path:
    """Copy the standalone file that defines `module`'s class into `folder` (e.g. conv_vae.py), so that
    `sys.path.insert(0, folder); from conv_vae import ConvVAE; ConvVAE.from_pretrained(folder)` works
    anywhere torch and huggingface_hub are installed. The studio itself never runs the copy."""
    import inspect
    import shutil

    source = Path(inspect.getsourcefile(type(module)))
    shutil.copyfile(source, folder / source.name)
    return folder / source.name


def write_network_config(module: torch.nn.Module, folder: Path) -> Path:
    """config.json exactly as `PyTorchModelHubMixin.save_pretrained` writes it (the constructor's arguments),
    for folders saved before the mixin, whose weights stay as they are."""
    import json

    path = folder / "config.json"
    path.write_text(json.dumps(module._hub_mixin_config, sort_keys=True, indent=2))
    return path
