"""Models: list, inspect, load, save, rename, delete, export, import and merge. The functions behind the
Models tab, the `/models`, `/model_*` and `/merge_lora` endpoints, the CLI, and the training worker's save.

The store (`studio.core.registry`) keeps folders and knows no networks; this is the floor where a model
meets its family: loading goes through `family.load` (recently used models stay in memory), saving through
`family.save` plus the model card, and an imported archive is proven sound by loading it through its family
before it is listed.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import torch

from ..core.devices import pick_device
from ..core.environment import environment
from ..core.errors import StudioError, public_message
from ..core.outputs import new_output_dir
from ..core.registry import (
    ModelRecord,
    Registry,
    check_name,
    default_registry,
    weights_hash,
)
from ..families import get_family
from ..families.base import LoadedModel
from .modelcard import write_model_card

_cache: OrderedDict[tuple, LoadedModel] = OrderedDict()
_cache_lock = threading.RLock()


# -- reading -------------------------------------------------------------------------------------------------
def list_models(family: str | None = None, kind: str | None = None) -> list[dict]:
    """Every model, shipped first then the user's, each sorted by name: plain records (name, family, kind,
    source, created, shapes, dataset); optionally one family or kind ("image", "text", "style")."""
    return [r.summary() for r in default_registry().list(family=family or None, kind=kind or None)]


def model_exists(name: str) -> bool:
    return default_registry().exists(name)


def model_record(name: str) -> ModelRecord:
    return default_registry().get(name)


def model_info(name: str) -> dict:
    """Everything known about a model: its record, studio.json ("meta"), files, model card ("card", the
    README.md text) and the path of its samples image ("samples", or None)."""
    info = default_registry().info(name)
    samples = default_registry().get(name).path / "samples.png"
    info["samples"] = str(samples) if samples.is_file() else None
    return info


def settings_of(name: str) -> list:
    """The sampling settings (`Setting`s) the model's family takes."""
    return list(get_family(model_record(name).family).settings)


def load_model(name: str, device: torch.device | None = None) -> LoadedModel:
    """A model ready to sample, through its family; the STUDIO_MODEL_CACHE most recently used stay loaded."""
    record = model_record(name)
    device = device or pick_device()
    key = (record.name, str(record.path), (record.path / "studio.json").stat().st_mtime_ns, str(device))
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        loaded = get_family(record.family).load(record.path, record.meta, device)
        loaded.weights_hash = weights_hash(record.path)
        _cache[key] = loaded
        while len(_cache) > environment().model_cache:
            _cache.popitem(last=False)
        return loaded


def load_image_model(name: str) -> tuple[ModelRecord, LoadedModel]:
    """The record and the loaded model of an image model, or a StudioError."""
    record = model_record(name)
    loaded = load_model(name)
    if loaded.family.kind != "image":
        raise StudioError(f"{name!r} is a {loaded.family.title} model, not an image model")
    return record, loaded


def _forget(name: str) -> None:
    with _cache_lock:
        for key in [k for k in _cache if k[0] == name]:
            del _cache[key]


# -- writing -------------------------------------------------------------------------------------------------
def save_model(name: str, family: str, module, meta: dict, write_extras: Callable[[Path], None] | None = None,
               registry: Registry | None = None) -> ModelRecord:
    """Save a trained network as a new user model, atomically: the family writes its weights, `write_extras`
    may add files (samples), and the model card is written from the finished studio.json.

    `meta` holds config, shapes, recipe, dataset, metrics and training facts."""
    fam = get_family(family)
    registry = registry or default_registry()

    def write(folder: Path, full_meta: dict) -> None:
        fam.save(module, folder)
        if write_extras is not None:
            write_extras(folder)
        write_model_card(folder, full_meta)

    return registry.save(name, family, {"kind": fam.kind, **meta}, write)


def adapters_on(name: str) -> list[str]:
    """The LoRA adapters (image or text) that find `name` as their base model."""
    return [r.name for r in default_registry().list()
            if r.family in ADAPTER_FAMILIES and (r.meta.get("config") or {}).get("base_model") == name]


ADAPTER_FAMILIES = ("lora", "diffusion-lora")


def _keep_adapters_working(name: str, action: str) -> None:
    # Adapters find their base by name: renaming or deleting it would leave them unable to load.
    users = adapters_on(name)
    if users:
        raise StudioError(f"cannot {action} {name!r}: the LoRA adapters {', '.join(map(repr, users))} are built on it "
                          "and find it by name. Merge them into standalone models first (/merge_lora, or Merge "
                          "in the Models tab), or delete them")


def rename_model(name: str, new_name: str) -> dict:
    """Rename one of your models (shipped models are read-only); its card is rewritten with the new name.
    A model that LoRA adapters are built on keeps its name (they find it by name)."""
    default_registry().get(name)  # a missing model is named first
    _keep_adapters_working(name, "rename")
    _forget(name)
    return default_registry().rename(name, new_name, rewrite=write_model_card).summary()


def delete_model(name: str) -> str:
    """Delete one of your models (shipped models are read-only). A model that LoRA adapters are built on is
    kept until they are merged or deleted."""
    default_registry().get(name)
    _keep_adapters_working(name, "delete")
    _forget(name)
    default_registry().delete(name)
    return f"deleted {name}"


def export_model(name: str, dest_dir: str | Path | None = None) -> Path:
    """A zip of the model folder (studio.json, safetensors weights, samples, model card)."""
    return default_registry().export_zip(name, Path(dest_dir) if dest_dir else new_output_dir("export"))


def _check_import(folder: Path, meta: dict) -> None:
    """An imported folder is listed only once its family loads it on the CPU; it gets a card if it has none.

    Before anything is built, the family checks every config value against its bounds and each weights
    file's header against the shapes those values give (`Family.check_stored`), so a hostile archive is
    refused for the cost of reading a few kilobytes. Messages name files inside the archive, never the
    server folder it was unpacked into."""
    fam = get_family(meta["family"])
    if not isinstance(meta.get("config"), dict):
        raise StudioError("studio.json has no model config")
    meta["imported"] = True  # recorded in its studio.json: what it names is never looked for in server folders
    try:
        fam.check_stored(folder, meta)
    except StudioError as exc:
        raise StudioError(f"the archive's model is refused: {public_message(exc)}") from None
    try:
        fam.load(folder, meta, torch.device("cpu"))
    except StudioError as exc:
        raise StudioError(f"the archive's weights do not load: {public_message(exc)}") from None
    except Exception as exc:  # a foreign config can fail in many ways inside a network's __init__
        first = public_message(str(exc).strip().splitlines()[0] if str(exc).strip() else "")
        raise StudioError(f"the archive's model does not load ({type(exc).__name__}: {first})") from None
    if not (folder / "README.md").is_file():
        write_model_card(folder, meta)


def import_model(archive: str | Path, name: str | None = None) -> dict:
    """Import a model zip exported by a studio; `name` (optional) renames it on the way in."""
    return default_registry().import_zip(archive, name or None, check=_check_import).summary()


def merge_lora(name: str, new_name: str) -> dict:
    """Fold a LoRA adapter into its base model's weights and save the result as a standalone model
    `new_name` (it no longer needs the base model): a text model for a text adapter, a diffusion model for a
    diffusion adapter. The adapter itself is kept."""
    from ..families.text import TextModel
    from .training import check_new_model

    record = model_record(name)
    if record.family not in ADAPTER_FAMILIES:
        raise StudioError(f"{name!r} is a {record.family} model, not a LoRA adapter (families "
                          f"{', '.join(ADAPTER_FAMILIES)})")
    check_new_model(new_name)  # before the (slow) load
    if record.family == "diffusion-lora":
        return _merge_diffusion_lora(record, new_name)
    loaded = get_family("lora").load(record.path, record.meta, pick_device())  # a fresh copy: merging changes it
    merged = loaded.module.merge_and_unload()
    meta = {"config": {"merged_from": name, "base_model": record.meta["config"]["base_model"]},
            "shapes": record.meta.get("shapes", {}), "recipe": record.meta.get("recipe", {}),
            "dataset": record.meta.get("dataset", {}), "metrics": {}, "training": record.meta.get("training", {})}
    return save_model(new_name, "text", TextModel(merged, loaded.extras["tokenizer"]), meta).summary()


def _merge_diffusion_lora(record: ModelRecord, new_name: str) -> dict:
    """The adapter merged into a fresh copy of its base's UNet, saved as a diffusion pipeline with the base's
    noise schedule; its config is the base's architecture, so it can be a base itself."""
    from diffusers import DDPMPipeline, DDPMScheduler

    family = get_family("diffusion-lora")
    unet, scheduler_config = family.attach(record.path, record.meta)  # a fresh copy, merged
    config = record.meta["config"]
    base = default_registry().get(config["base_model"])
    meta = {"config": {**base.meta.get("config", {}), "merged_from": record.name, "base_model": base.name},
            "shapes": {k: v for k, v in record.meta.get("shapes", {}).items() if k != "base_model"},
            "recipe": record.meta.get("recipe", {}), "dataset": record.meta.get("dataset", {}),
            "metrics": record.meta.get("metrics", {}), "training": record.meta.get("training", {})}
    pipe = DDPMPipeline(unet=unet.eval(), scheduler=DDPMScheduler.from_config(scheduler_config))

    def samples(folder: Path) -> None:
        if (record.path / "samples.png").is_file():  # the same weights make the same samples
            (folder / "samples.png").write_bytes((record.path / "samples.png").read_bytes())

    return save_model(new_name, "diffusion", pipe, meta, write_extras=samples).summary()


def import_diffusers_pipeline(source: str, name: str) -> ModelRecord:
    """Bring a diffusers unconditional pipeline into the registry as a diffusion model named `name`.

    `source` is a Hub id (e.g. "google/ddpm-cifar10-32", needs the network) or a local pipeline folder. Only
    safetensors weights are read. Offline (HF_HUB_OFFLINE=1) a Hub id fails at once with a StudioError."""
    from diffusers import DDPMPipeline, UNet2DModel

    check_name(name)
    if model_exists(name):
        raise StudioError(f"a model named {name!r} already exists; choose another name")
    source = str(source).strip()
    if not source:
        raise StudioError("give a Hub pipeline id (like google/ddpm-cifar10-32) or a local pipeline folder")
    try:
        pipe = DDPMPipeline.from_pretrained(source, use_safetensors=True)
    except OSError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StudioError(f"could not load the diffusers pipeline {source!r}: it is not a local pipeline folder, "
                          "and the Hub is unreachable or has no such repository with safetensors weights "
                          f"(offline mode: HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE', '0')}). "
                          f"Details: {first}") from None
    except (ValueError, TypeError) as exc:
        raise StudioError(f"{source!r} is not a diffusers unconditional image pipeline ({exc})") from None
    if not isinstance(pipe.unet, UNet2DModel):
        raise StudioError(f"{source!r} is not an unconditional UNet2DModel pipeline")
    cfg = pipe.unet.config
    size = cfg.sample_size if isinstance(cfg.sample_size, int) else int(cfg.sample_size[0])
    meta = {"config": {"image_size": size, "channels": cfg.in_channels, "imported_from": source},
            "shapes": {"image_size": size, "channels": cfg.in_channels},
            "recipe": {}, "metrics": {},
            "dataset": {"name": source, "source": f"diffusers pipeline {source}",
                        "license": "see the source repository's model card"},
            "training": {"command": f"python -c \"from studio.services.models import import_diffusers_pipeline; "
                                    f"import_diffusers_pipeline('{source}', '{name}')\""}}
    return save_model(name, "diffusion", pipe, meta)
