"""LoRA adapters (peft) that fine-tune a studio diffusion model on an artist's few images.

A base diffusion model (trained on thousands of images) already knows outlines, shapes and colour; an
adapter adds low-rank updates to the UNet's attention projections and convolutions (Hu et al., 2021; the
LoRA of DreamBooth-style fine-tuning), so a few dozen images and a few minutes of CPU move it towards the
artist's style while the base stays as it is.

The model folder holds only the adapter (`adapter_config.json` and `adapter_model.safetensors`, written by
peft, a small fraction of the base's size) and a pointer to the base: `config["base_model"]`, the name of a
diffusion model in this studio (never a path), with the base's weights hash, size and channels. Loading
builds the base afresh from its folder, attaches the adapter and merges it (peft `merge_and_unload`), so
sampling, DDIM inversion and interpolation run on a plain UNet exactly as for any diffusion model, at the
same speed. `services.models.merge_lora` saves that merged UNet as a standalone diffusion model.

Training reuses the diffusion family's trainer on the base wrapped by peft: only the adapter's weights
require grad, so only they are optimised. The training service copies the base into the job folder, so a
job resumes even if the base is renamed or deleted meanwhile.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..core.errors import StudioError
from .base import LoadedModel
from .checks import identifier, number, read_json_file, text, texts, whole
from .diffusion import SIZES, DiffusionFamily, DiffusionTrainer, load_job_base

# The UNet's layers that get adapters (peft matches module names by suffix): the attention projections, the
# two convolutions and the time projection of every ResNet block, and the shortcut convolutions. The first
# and last convolutions (3 channels in or out) and the resampling convolutions keep the base's weights.
TARGET_MODULES = ("to_q", "to_k", "to_v", "to_out.0", "conv1", "conv2", "conv_shortcut", "time_emb_proj")


def adapter_layers(unet: torch.nn.Module, targets=TARGET_MODULES) -> dict[str, torch.nn.Module]:
    """The modules of a UNet that an adapter attaches to, by name."""
    return {name: m for name, m in unet.named_modules()
            if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))
            and any(name == t or name.endswith("." + t) for t in targets)}


def narrowest_width(unet: torch.nn.Module, targets=TARGET_MODULES) -> int:
    """The smallest input or output width among the adapted layers: a rank above it adds nothing a full
    update would not, so it is the largest rank allowed."""
    widths = []
    for m in adapter_layers(unet, targets).values():
        if isinstance(m, torch.nn.Linear):
            widths += [m.in_features, m.out_features]
        else:
            widths += [m.in_channels, m.out_channels]
    if not widths:
        raise StudioError("this diffusion model has none of the layers a LoRA adapter attaches to")
    return min(widths)


def lora_config(config: dict):
    from peft import LoraConfig
    return LoraConfig(r=int(config["r"]), lora_alpha=int(config["alpha"]), lora_dropout=float(config["dropout"]),
                      target_modules=list(config["target_modules"]), init_lora_weights=True)


def base_record(config: dict):
    """The registry record of an adapter's base model, checked to be the model the adapter was made on.
    Every way it can be missing or different is a StudioError that says what to do; the adapter's own
    files are never touched."""
    from ..core.registry import default_registry, weights_hash

    name = config.get("base_model")
    if not name:
        raise StudioError("this adapter's studio.json names no base model (config.base_model)")
    registry = default_registry()
    if not registry.exists(name):
        raise StudioError(f"this LoRA adapter needs its base model {name!r}, which is not in this studio (it was "
                          "deleted or renamed, or the adapter was imported without it). Import or restore "
                          f"{name!r} under that name; the adapter itself is kept")
    record = registry.get(name)
    if record.family != "diffusion":
        raise StudioError(f"this LoRA adapter's base {name!r} is now a {record.family} model, not the diffusion "
                          "model it was trained on; restore that model under this name")
    shapes = record.meta.get("shapes", {})
    if (int(shapes.get("image_size", 0)), int(shapes.get("channels", 0))) != \
            (int(config["image_size"]), int(config["channels"])):
        raise StudioError(f"this LoRA adapter was trained on a {config['image_size']} px base with "
                          f"{config['channels']} channels, but {name!r} is now {shapes.get('image_size')} px with "
                          f"{shapes.get('channels')}; restore the base it was trained on under this name")
    expected = config.get("base_weights")
    if expected and weights_hash(record.path) != expected:
        raise StudioError(f"the base model {name!r} has different weights from the one this adapter was trained on "
                          f"(weights {expected}); restore that model under this name, or fine-tune again")
    return record


class DiffusionLoraFamily(DiffusionFamily):
    name = "diffusion-lora"
    kind = "image"
    title = "LoRA adapter on a diffusion model"
    library_name = "peft"
    image_sizes = SIZES

    # studio.json's config: the base is a model of this studio by name (never a path or a Hub id), and the
    # rank is bounded by the widest UNet layer the diffusion bounds allow (the base's own narrowest adapted
    # layer bounds it further when training starts, and peft refuses an adapter that does not fit its base).
    config_bounds = {
        "image_size": whole(4, 256), "channels": whole(1, 4), "r": whole(1, 1024), "alpha": whole(1, 4096),
        "dropout": number(0, 1), "target_modules": texts(128, 1, 64), "base_model": text(64),
        "base_weights": text(128, optional=True),
    }

    def check_config_rules(self, config: dict) -> None:
        from ..core.registry import check_name

        for i, module in enumerate(config["target_modules"]):
            identifier(f"target_modules[{i}]", module)
        try:
            check_name(config["base_model"])
        except StudioError:
            raise StudioError(f"config base_model must name a diffusion model in this studio (letters, digits, "
                              f"'.', '_' and '-'; never a path); got {str(config['base_model'])[:64]!r}") from None

    def expected_weights(self, folder: Path, config: dict):
        raise NotImplementedError("an adapter's shapes depend on its base model; see check_stored")

    def check_stored(self, folder: Path, meta: dict) -> None:
        """An imported adapter: its config bounded and its base a model name (never a folder), its
        adapter_config.json bounded like a text adapter's, and its header only LoRA tensors of its rank. Whether
        it fits its base is peft's check when it loads (and a missing base is named then)."""
        from .lora import check_adapter_config, check_adapter_weights

        config = self.check_config(meta.get("config"))
        adapter = read_json_file(folder / "adapter_config.json")
        # peft records the class it wrapped (for its Auto classes, which the studio never uses): a UNet here.
        mapping = adapter.pop("auto_mapping", None) if isinstance(adapter, dict) else None
        if mapping is not None and (not isinstance(mapping, dict) or mapping.get("base_model_class") != "UNet2DModel"
                                    or set(mapping) - {"base_model_class", "parent_library"}
                                    or not str(mapping.get("parent_library", "diffusers.")).startswith("diffusers.")):
            raise StudioError("adapter_config.json: auto_mapping must name diffusers' UNet2DModel, the only model a "
                              "diffusion adapter attaches to")
        adapter = check_adapter_config(adapter)
        if adapter["r"] != config["r"]:
            raise StudioError(f"adapter_config.json has rank {adapter['r']}, studio.json {config['r']}")
        check_adapter_weights(folder / "adapter_model.safetensors", adapter["r"], most_dims=4)

    def default_config(self, image_size: int, channels: int) -> dict:
        # The service adds base_model and base_weights. alpha = r: the update's scale is 1 at any rank.
        return {"image_size": image_size, "channels": channels, "r": 8, "alpha": 8, "dropout": 0.0,
                "target_modules": list(TARGET_MODULES)}

    def default_recipe(self) -> dict:
        # A few hundred steps of batch 16 at a higher rate than training from scratch: the adapter starts as a
        # zero update, and the artist's set is small. The EMA's warm-up lets a 30-step run still move.
        return {"steps": 300, "batch_size": 16, "learning_rate": 2e-3, "ema_decay": 0.99, "grad_clip": 1.0,
                "preview_steps": 25, "seed": 0, "flip": False, "sample_every": 0, "checkpoint_every": 0}

    def build(self, config: dict):
        raise StudioError("a LoRA adapter is built on its base model; load it by name")

    def save(self, module, folder: Path) -> None:
        """Write only the adapter (peft's adapter_config.json and adapter_model.safetensors)."""
        from peft import PeftModel
        if not isinstance(module, PeftModel):
            raise TypeError("diffusion LoRA adapters are saved from the peft-wrapped UNet")
        # save_embedding_layers=False: a UNet has no vocabulary (peft would otherwise look up the base's config).
        module.save_pretrained(str(folder), safe_serialization=True, save_embedding_layers=False)
        (folder / "README.md").unlink(missing_ok=True)  # peft's own card; the registry writes ours

    def attach(self, folder: Path, meta: dict) -> tuple[torch.nn.Module, dict]:
        """(the base's UNet with this adapter merged into it, the base's scheduler config), on the CPU."""
        from peft import PeftModel

        config = meta.get("config") or {}
        if not (folder / "adapter_model.safetensors").is_file():
            raise StudioError("adapter_model.safetensors is missing (a LoRA adapter folder holds it and "
                              "adapter_config.json)")
        base = base_record(config)
        loaded = DiffusionFamily().load(base.path, base.meta, torch.device("cpu"))  # a fresh copy: merging changes it
        try:
            peft_model = PeftModel.from_pretrained(loaded.module, str(folder))
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise StudioError(f"the adapter does not fit its base model {base.name!r} "
                              f"({str(exc).splitlines()[0]})") from None
        return peft_model.merge_and_unload(), loaded.extras["scheduler_config"]

    def load(self, folder: Path, meta: dict, device: torch.device) -> LoadedModel:
        unet, scheduler_config = self.attach(folder, meta)
        unet.to(device).eval()
        return LoadedModel(name=meta.get("name", folder.name), family=self, meta=meta, module=unet, device=device,
                           extras={"scheduler_config": scheduler_config,
                                   "base_model": meta["config"]["base_model"]})

    def trainer(self, config: dict, recipe: dict, accelerator, job_dir=None) -> "DiffusionLoraTrainer":
        from peft import get_peft_model

        unet, scheduler = load_job_base(job_dir)
        peft_unet = get_peft_model(unet, lora_config(config))  # freezes the base; only the adapter trains
        peft_unet.train()
        return DiffusionLoraTrainer(config, recipe, accelerator, unet=peft_unet, noise_scheduler=scheduler)


class DiffusionLoraTrainer(DiffusionTrainer):
    def export(self):
        """The EMA copy of the peft-wrapped UNet; the family saves only its adapter."""
        model = self.ema_weights.unet
        # peft records the base's path; the studio finds the base by name (config.base_model), never by path.
        for peft_config in model.peft_config.values():
            peft_config.base_model_name_or_path = self.config["base_model"]
        return model
