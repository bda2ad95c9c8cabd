"""A model's training data, found again: what the originality check compares with and what fine-tuning on
favourites mixes back in.

A model's studio.json says where its data came from; the data is looked for, in this order:
1. its training job's `data.safetensors` (studio.json `training.job`), while the job folder exists: exactly
   the tensor the model was trained on;
2. a built-in set or corpus named by `dataset.name` (the digits, the fortunes), rebuilt at the model's size;
3. a data folder named by `dataset.folder`: relative to the studio's folder for shipped models (for example
   `data/twemoji/raw/faces`, written by `data/twemoji/prepare.py`), or a folder under STUDIO_DATA_ROOTS;
4. for a model fine-tuned from another (`training.start_from`), that model's data.
Uploads are not kept apart from their job, so a model trained on uploads whose job was deleted has no data
to find; the error says so.
"""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from ..core import jobs
from ..core.environment import REPO_ROOT, check_server_folder
from ..core.errors import StudioError
from ..core.registry import ModelRecord, default_registry
from ..data.images import BUILTIN_IMAGE_SETS, builtin_images, images_from_files
from ..data.text import BUILTIN_CORPORA, TextCorpus, builtin_corpus

BACKGROUNDS = {"white": (255, 255, 255), "black": (0, 0, 0), "grey": (128, 128, 128)}


def _job_data(record: ModelRecord) -> dict[str, torch.Tensor] | None:
    job = (record.meta.get("training") or {}).get("job")
    if not job:
        return None
    try:
        folder = jobs.job_dir(str(job))
    except StudioError:
        return None  # the job was deleted
    path = folder / "data.safetensors"
    return load_file(str(path)) if path.is_file() else None


def data_folder(dataset: dict) -> Path | None:
    """The folder `dataset.folder` names, if it is one the studio may read: under the studio's own `data/`
    (shipped models) or under STUDIO_DATA_ROOTS. An imported model cannot point the server elsewhere."""
    folder = dataset.get("folder")
    if not folder:
        return None
    path = Path(str(folder))
    if not path.is_absolute():
        path = (REPO_ROOT / path).resolve()
        if REPO_ROOT / "data" not in path.parents:
            raise StudioError(f"the model's data folder {folder!r} is outside the studio's data/ folder")
        if not path.is_dir():
            raise StudioError(f"the model's training images are not prepared: {folder} is missing "
                              f"(its prepare script under data/ writes it)")
        return path
    return check_server_folder(path, "training data folder")


def training_images(name: str, _depth: int = 0) -> tuple[torch.Tensor, str]:
    """The training images of image model `name`: uint8 (N, C, S, S) at its size and channels, and where
    they were found (for people). A StudioError says what is missing."""
    record = default_registry().get(name)
    if record.meta.get("kind", "image") != "image":
        raise StudioError(f"{name!r} is not an image model")
    shapes = record.meta.get("shapes", {})
    size, channels = int(shapes.get("image_size", 32)), int(shapes.get("channels", 3))
    dataset = record.meta.get("dataset") or {}
    data = _job_data(record)
    if data is not None and "data" in data and tuple(data["data"].shape[1:]) == (channels, size, size):
        return data["data"], f"its training job {record.meta['training']['job']} (data.safetensors)"
    set_name = str(dataset.get("name", ""))
    if set_name in BUILTIN_IMAGE_SETS and dataset.get("source") == BUILTIN_IMAGE_SETS[set_name]["source"]:
        return builtin_images(set_name, size, channels).images, f"the built-in set {set_name!r}"
    folder = data_folder(dataset)
    if folder is not None:
        prep = record.meta.get("preprocessing") or {}
        background = BACKGROUNDS.get(str(prep.get("background", "white")), BACKGROUNDS["white"])
        found = images_from_files([folder], size, channels, str(prep.get("fit", "crop")), background)
        return found.images, f"the folder {dataset['folder']}"
    base = (record.meta.get("training") or {}).get("start_from")
    if base and _depth < 3 and default_registry().exists(str(base)):
        images, where = training_images(str(base), _depth + 1)
        return images, f"the data of {base!r}, which it was fine-tuned from ({where})"
    raise StudioError(f"the training images of {name!r} cannot be found: its training job is gone and its "
                      "studio.json names no built-in set or data folder (dataset.folder)")


def training_text(name: str) -> tuple[TextCorpus, str]:
    """The training text of text model `name` and where it was found. From its job, the token ids are
    decoded back to text with the job's tokenizer."""
    from transformers import AutoTokenizer

    record = default_registry().get(name)
    dataset = record.meta.get("dataset") or {}
    data = _job_data(record)
    if data is not None and "train" in data:
        folder = jobs.job_dir(record.meta["training"]["job"])
        tok = AutoTokenizer.from_pretrained(str(folder / "tokenizer"))
        train, val = (tok.decode(data[k].tolist(), skip_special_tokens=True) for k in ("train", "val"))
        corpus = TextCorpus([train], str(dataset.get("source", "")), str(dataset.get("license", "")),
                            validation=[val], format=str(dataset.get("format", "text")))
        return corpus, f"its training job {record.meta['training']['job']}"
    set_name = str(dataset.get("name", ""))
    if set_name in BUILTIN_CORPORA:
        return builtin_corpus(set_name), f"the built-in corpus {set_name!r}"
    raise StudioError(f"the training text of {name!r} cannot be found: its training job is gone and it "
                      "names no built-in corpus")
