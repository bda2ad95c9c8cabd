"""Bring a model folder saved by an older studio up to today's layout, leaving its weights as they are.

- the studio's own networks (VAE, GAN, style, AdaIN): `config.json` and the network's standalone source file,
  so `PyTorchModelHubMixin.from_pretrained(folder)` loads it without the studio;
- diffusion: the scheduler config carries the timestep spacing the studio samples with ("trailing");
- text: the tokenizer knows the model's context (`model_max_length`) and keeps no flags of a local load;
- every folder: the model card (README.md, and LICENSE.md for mixed licences) is written afresh.

`python -m studio models upgrade FOLDER...` runs it (the shipped models in `checkpoints/` were upgraded so).
"""
from __future__ import annotations

import json
from pathlib import Path

from ..core.errors import StudioError
from ..core.registry import read_json
from ..families import get_family
from ..families.base import copy_network_source, write_network_config
from .modelcard import write_model_card

# Keys transformers writes into tokenizer_config.json after a local load; they describe that load.
_LOAD_FLAGS = ("is_local", "local_files_only", "name_or_path", "trust_remote_code", "cache_dir")


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def upgrade_folder(folder: str | Path) -> list[str]:
    """Upgrade one model folder in place; returns the files written. Weights files are never touched."""
    from huggingface_hub import PyTorchModelHubMixin

    folder = Path(folder)
    if not (folder / "studio.json").is_file():
        raise StudioError(f"{folder} holds no studio.json; it is not a studio model folder")
    meta = read_json(folder / "studio.json")
    meta.setdefault("name", folder.name)
    family = get_family(meta["family"])
    written = []
    if family.kind in ("image", "style") and family.name not in ("diffusion", "diffusion-lora"):
        module = family.build(meta["config"])
        if isinstance(module, PyTorchModelHubMixin):
            written += [write_network_config(module, folder).name, copy_network_source(module, folder).name]
    scheduler = folder / "scheduler" / "scheduler_config.json"
    if family.name == "diffusion" and scheduler.is_file():
        from ..families.diffusion import TIMESTEP_SPACING

        config = read_json(scheduler)
        if config.get("timestep_spacing") != TIMESTEP_SPACING:
            config["timestep_spacing"] = TIMESTEP_SPACING
            _write_json(scheduler, config)
            written.append("scheduler/scheduler_config.json")
    tokenizer = folder / "tokenizer_config.json"
    if family.kind == "text" and tokenizer.is_file() and (folder / "config.json").is_file():
        config, model = read_json(tokenizer), read_json(folder / "config.json")
        context = model.get("n_positions") or model.get("max_position_embeddings")
        cleaned = {k: v for k, v in config.items() if k not in _LOAD_FLAGS}
        if context:
            cleaned["model_max_length"] = int(context)
        if cleaned != config:
            _write_json(tokenizer, cleaned)
            written.append("tokenizer_config.json")
    write_model_card(folder, meta)
    written.append("README.md")
    if (folder / "LICENSE.md").is_file():
        written.append("LICENSE.md")
    return written
