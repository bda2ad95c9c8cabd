"""Training: one way to start a job for every family, and the functions that watch, cancel and resume it.

`start_training(family, name, ...)` is the one entry behind the Train tab, `/train`, `/train_text`,
`/train_style` and `python -m studio train`. It checks the name and the options, merges the family's recipe
with the overrides once, prepares the data into a new job folder (so the job can resume after the uploads
are gone), and starts the worker process (`python -m studio.train <job dir>`, `studio/train.py`).

`start_from=<model>` continues training an existing model instead of starting from scratch (image families,
text, LoRA): the new job keeps the model's architecture, sizes, tokenizer and recipe, and the worker loads its
weights (`Trainer.start_from`). Fine-tuning on favourites (`services.favourites`) uses it with `data=`, data
another service assembled.

Fine-tuning: `base_model` names a diffusion model in this studio to start from, `adapter` says how: "lora"
(the default; a `diffusion-lora` model: a peft adapter of rank `rank` on the base, which the new model's
folder points to by name) or "full" (a `diffusion` model whose every weight trains, starting from the
base's). The base's folder is copied into the job, so the job resumes whatever happens to the base.

What a family's data becomes:
- image families (vae, gan, diffusion, diffusion-lora): uint8 (N, C, S, S) images, `data.safetensors` key
  "data" (and, for fine-tunes, the base model in `base/`);
- text (a GPT-2 from scratch) and lora (an adapter on a base model): token ids "train" and "val", and the
  tokenizer in `tokenizer/`;
- style (a per-style network): content crops "content" and the style image `style.png`;
- adain (an arbitrary-style decoder): content crops "content" and style crops "style".
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from safetensors.torch import save_file

from ..core import jobs
from ..core.environment import check_server_folder
from ..core.errors import StudioError, check_number
from ..core.images import open_image
from ..core.registry import check_name, default_registry
from ..core.seeds import check_seed
from ..data.examples import installed_image, installed_images
from ..data.images import (
    BUILTIN_IMAGE_SETS,
    builtin_images,
    gather_images,
    images_from_files,
    square_crops,
)
from ..data.text import (
    BUILTIN_CORPORA,
    TextCorpus,
    build_tokenizer,
    builtin_corpus,
    encode,
    texts_from_files,
)
from ..families import get_family
from ..families.diffusion import BASE_IN_JOB
from .zerogpu import check_training_device

BACKGROUNDS = {"white": (255, 255, 255), "black": (0, 0, 0), "grey": (128, 128, 128)}
LIMITS = {"steps": (1, 1_000_000), "batch_size": (1, 1024), "context": (8, 1024), "lora_rank": (1, 256)}
DEFAULT_LORA_BASE = "SmolLM2-135M-Instruct"
ACTIVE_STATES = jobs.ACTIVE_STATES

# The options each kind of family takes beyond the shared ones (name, data, steps, batch size, learning
# rate, seed, recipe, config); anything else is refused with the family that would take it.
OPTIONS = {
    "image": {"image_size", "color", "fit", "background", "flip", "base_model", "rank"},
    "text": {"size", "tokenizer", "vocab_size", "context"},
    "lora": {"base_model", "rank", "alpha", "context"},
    "style": {"image_size", "style", "content", "style_weight"},
    "adain": {"image_size", "styles", "style_files", "content", "style_weight"},
}


ADAPTERS = ("lora", "full")
# Recipe defaults of a full fine-tune, over the diffusion family's (which are for training from scratch):
# fewer steps on the artist's few images, small batches, a lower rate so the base's knowledge is kept.
FULL_FINE_TUNE_RECIPE = {"steps": 300, "batch_size": 16, "learning_rate": 2e-4, "ema_decay": 0.99}


def fine_tuning_family(family: str, adapter: str | None, base_model: str | None, rank: int | None) -> str:
    """The family that trains for `family` with a fine-tuning `adapter` ("lora", "full" or none) on
    `base_model`: diffusion + lora -> diffusion-lora, text + lora -> lora; full keeps the family. Refuses
    combinations that do not exist, naming what would work."""
    adapter = str(adapter).strip().lower() if adapter not in (None, "") else None
    if adapter is not None and adapter not in ADAPTERS:
        raise StudioError(f"adapter must be one of {', '.join(ADAPTERS)} (or empty: train from scratch, or LoRA when "
                          f"a base_model is given); got {adapter!r}")
    if family in ("text", "lora"):
        if adapter == "full":
            raise StudioError("a full fine-tune of a language model is not available here; use adapter 'lora'")
        return "lora" if adapter == "lora" else family
    if family == "diffusion-lora":
        if adapter == "full":
            raise StudioError("family diffusion-lora is a LoRA adapter; for a full fine-tune use family "
                              "'diffusion' with adapter 'full'")
        return family
    if family == "diffusion":
        if (adapter is not None or rank is not None) and not base_model:
            raise StudioError(f"{'adapter ' + repr(adapter) if adapter else 'rank'} applies to fine-tuning a base "
                              "model: give base_model, the name of a diffusion model in this studio")
        if adapter == "full" and rank is not None:
            raise StudioError("rank applies to LoRA adapters only; a full fine-tune trains every weight "
                              "(leave rank empty, or use adapter 'lora')")
        return "diffusion-lora" if base_model and adapter != "full" else family
    given = [k for k, v in (("base_model", base_model), ("adapter", adapter), ("rank", rank)) if v not in (None, "")]
    if given:
        raise StudioError(f"{given[0]} only applies to family 'lora' or 'diffusion' (fine-tuning a base model), not "
                          f"{family!r}: {family} models train from scratch, so leave base_model, adapter and rank "
                          "empty")
    return family


def _kind(family) -> str:
    if family.name in ("text", "lora", "style", "adain"):
        return family.name
    if family.kind == "image":
        return "image"
    raise StudioError(f"{family.title} models are not trained here")


def check_new_model(name: str, models_dir: str | Path | None = None) -> None:
    """Refuse, before any work starts, a name that is not allowed, taken (in the registry or in `models_dir`,
    where a job may save instead) or being trained by a running job."""
    check_name(name)
    if default_registry().exists(name) or (models_dir is not None and (Path(models_dir) / name).exists()):
        raise StudioError(f"a model named {name!r} already exists; choose another name")
    if any(j.get("model") == name for j in jobs.list_jobs() if j.get("state") in jobs.ACTIVE_STATES):
        raise StudioError(f"a running job is already training a model named {name!r}")


def propose_name(family: str) -> str:
    """A free name for a new model of `family`: "my-<family>", then "my-<family>-2", "-3", ... (not in the
    registry, not being trained by a job), so a training form can start without the artist typing one."""
    base = f"my-{family}"
    for i in range(1, 10_000):
        name = base if i == 1 else f"{base}-{i}"
        try:
            check_new_model(name)
            return name
        except StudioError:
            continue
    raise StudioError(f"no free name like {base!r}; choose a name")


def recipe_defaults(family: str) -> dict:
    """The family's training recipe as a new job gets it when nothing is overridden (steps, batch size,
    learning rate, ...), for forms that show what an empty field means."""
    return get_family(family).default_recipe()


def merge_recipe(family, overrides: dict | None, **named) -> dict:
    """The family's default recipe with `overrides` (any recipe key) and the named values that are not None,
    each checked once: whole numbers where they must be, ranges, positive rates and weights."""
    full = family.default_recipe()
    for key, value in (overrides or {}).items():
        if key not in full:
            raise StudioError(f"{key!r} is not a training setting of {family.title} models; "
                              f"they take: {', '.join(full)}")
        full[key] = value
    full.update({k: v for k, v in named.items() if v is not None and k in full})
    for key in ("steps", "batch_size", "context"):
        if key in full:
            full[key] = check_number(key, full[key], *LIMITS[key], whole=True)
    full["learning_rate"] = check_number("learning_rate", full["learning_rate"], 0, 1)
    if full["learning_rate"] <= 0:
        raise StudioError("learning_rate must be above 0 and at most 1; got 0 (leave it empty for the default)")
    if "style_weight" in full:
        full["style_weight"] = check_number("style_weight", full["style_weight"], 0, 1e6)
        if full["style_weight"] <= 0:
            raise StudioError("style_weight must be above 0 (leave it empty for the default)")
    full["seed"] = check_seed(full.get("seed", 0))
    return full


def start_training(family: str, name: str, *, files: list[str | Path] | None = None, builtin: str | None = None,
                   folder: str | None = None, steps: int | None = None, batch_size: int | None = None,
                   learning_rate: float | None = None, seed: int | None = 0, recipe: dict | None = None,
                   config: dict | None = None, command: str = "", start: bool = True,
                   models_dir: str | Path | None = None, progress: Callable[[int], None] | None = None,
                   start_from: str | None = None, data=None, notes: dict | None = None, **options) -> dict:
    """Prepare the data for a new model of `family` into a job folder and start its worker.

    Data: uploaded `files` (images, .txt, zips), a `builtin` set or corpus, a server `folder` under
    STUDIO_DATA_ROOTS, or `data` prepared by another service (an `ImageData` for image families, a
    `TextCorpus` for text ones) (exactly one; style families may take installed images instead, see OPTIONS).
    Empty steps, batch_size or learning_rate use the family's recipe; `recipe` overrides any recipe key and
    `config` any architecture key. `start_from` names a model of the same family to continue training from
    (its weights, architecture, sizes, tokenizer and recipe; see `_start_from`). `notes` are added to the
    model's training record (its card). `models_dir` saves the finished model there instead of the user's
    models (`checkpoints` for a shipped model). `start=False` only writes the job (for a foreground run or
    `accelerate launch`). Returns {"job", "report", "status"} and a count of what was prepared.
    Raises StudioError for anything the user should fix, and then no job exists: the checks run before the
    data is prepared, and a job whose worker cannot start is deleted again.
    """
    get_family(family)  # an unknown family is named before anything else
    family = fine_tuning_family(family, options.pop("adapter", None), options.get("base_model"),
                                options.get("rank"))
    fam = get_family(family)
    kind = _kind(fam)
    zero_gpu_note = check_training_device()  # ZeroGPU Spaces: CPU only, or refused (services/zerogpu.py)
    foreign = sorted(k for k, v in options.items() if v is not None and k not in OPTIONS[kind])
    if foreign:
        fine_tuning = foreign[0] in ("base_model", "rank")  # of the image families, only diffusion fine-tunes
        takers = [("diffusion" if k == "image" and fine_tuning else k) for k, allowed in OPTIONS.items()
                  if foreign[0] in allowed]
        raise StudioError(f"{foreign[0]} only applies to family {' or '.join(map(repr, takers))}, not {family!r}")
    check_new_model(name, models_dir)
    # Only a batch size the caller asked for is refused when it exceeds the images; the family's (or a
    # continued model's) recipe value is lowered to fit instead.
    batch_given = batch_size is not None or "batch_size" in (recipe or {})
    base = None
    if start_from:
        base, recipe, config, options = _start_from(fam, kind, start_from, recipe, config, options)
    if start:
        jobs.check_capacity()  # before the (slow) data preparation; checked again when the worker starts
    seed = 0 if seed is None else seed
    if fam.name == "diffusion" and options.get("base_model"):
        recipe = {**FULL_FINE_TUNE_RECIPE, **(recipe or {})}
    if kind == "image":
        options["batch_given"] = batch_given
    full = merge_recipe(fam, recipe, steps=steps, batch_size=batch_size, learning_rate=learning_rate, seed=seed,
                        context=options.get("context"), style_weight=options.get("style_weight"),
                        size=options.get("size"), tokenizer=options.get("tokenizer"),
                        vocab_size=options.get("vocab_size"))
    prepare = {"image": _prepare_images, "text": _prepare_text, "lora": _prepare_lora,
               "style": _prepare_style, "adain": _prepare_style}[kind]
    job = prepare(fam, full, dict(config or {}), files=files, builtin=builtin, folder=folder, progress=progress,
                  data=data, **{k: v for k, v in options.items() if v is not None})
    fam.check_config(job["config"])  # every architecture value within the family's bounds, overrides too
    extra = {**job["extra"], "command": command}
    if base is not None:
        extra["start_from"] = {"model": base.name, "path": str(base.path)}
    if notes:
        extra["training_notes"] = dict(notes)
    if models_dir:
        extra["models_dir"] = str(Path(models_dir).resolve())
    job_id = jobs.create_job(fam.name, name, job["config"], job["recipe"], job["dataset"], job["write"], extra=extra)
    report = f"{zero_gpu_note}\n{job['report']}" if zero_gpu_note else job["report"]
    if not start:
        return {"job": job_id, "report": report, "status": jobs.status(job_id), **job["counts"]}
    try:
        status = jobs.start(job_id)
    except BaseException:
        shutil.rmtree(jobs.job_dir(job_id), ignore_errors=True)  # refused (another job took the slot): no ghost
        raise
    return {"job": job_id, "report": report, "status": status, **job["counts"]}


def _start_from(fam, kind: str, model: str, recipe: dict | None, config: dict | None, options: dict):
    """What a job that continues `model` takes from it: the same family and architecture, its image size
    and channels (image families), its tokenizer and context (text) or base model (LoRA), and its recipe
    under the caller's overrides. Returns (record, recipe, config, options)."""
    base = default_registry().get(model)
    if base.family != fam.name:
        raise StudioError(f"{model!r} is a {base.family} model; a {fam.name} job cannot start from it")
    if kind not in ("image", "text", "lora"):
        raise StudioError(f"{fam.title} models cannot continue training from another model yet")
    if config:
        raise StudioError(f"a job that starts from {model!r} keeps its architecture; leave config empty")
    known = fam.default_recipe()
    recipe = {**{k: v for k, v in (base.meta.get("recipe") or {}).items() if k in known}, **(recipe or {})}
    shapes = base.meta.get("shapes") or {}
    options = dict(options)
    if kind == "image":
        fixed = {"image_size": int(shapes.get("image_size", 0)), "color": int(shapes.get("channels", 1)) == 3}
        for key, value in fixed.items():
            given = options.get(key)
            if given is not None and (bool(given) if key == "color" else int(given)) != value:
                raise StudioError(f"{model!r} makes {key.replace('_', ' ')} {value}; a job that starts from "
                                  f"it keeps that (got {given})")
            options[key] = value
        for key, value in (base.meta.get("preprocessing") or {}).items():
            if options.get(key) is None and key in OPTIONS["image"]:
                options[key] = value
    elif kind == "text":
        options["tokenizer_from"] = base.path
        recipe["context"] = int(shapes.get("context", recipe.get("context", 64)))
    else:
        options["base_model"] = base.meta["config"]["base_model"]
    return base, recipe, dict(base.meta["config"]), options


def _one_source(files, builtin, folder, what: str, data=None) -> None:
    if sum([bool(files), bool(builtin), bool(folder), data is not None]) != 1:
        raise StudioError(f"give exactly one data source: uploaded {what} or a zip, a built-in set, or a folder")


# -- image families -----------------------------------------------------------------------------------------
def _prepare_images(fam, recipe: dict, config: dict, *, files, builtin, folder, progress, data=None,
                    image_size: int | None = None, color: bool | None = None, fit: str = "crop",
                    background: str = "white", flip: bool = False, base_model: str | None = None,
                    rank: int | None = None, batch_given: bool = False) -> dict:
    base = None
    if base_model or fam.name == "diffusion-lora":
        base = fine_tuning_base(base_model)
        image_size, color = _match_base(base, image_size, color)
        config = _fine_tuning_config(fam, base, config, rank)
    image_size = check_number("image_size", 32 if image_size is None else image_size, 1, 4096, whole=True)
    if image_size not in fam.image_sizes:
        raise StudioError(f"{fam.title} models take image sizes {', '.join(map(str, fam.image_sizes))}; "
                          f"got {image_size}")
    if fit not in ("crop", "pad"):
        raise StudioError("fit must be 'crop' or 'pad'")
    if background not in BACKGROUNDS:
        raise StudioError(f"background must be one of {', '.join(BACKGROUNDS)}")
    recipe["flip"] = bool(flip)
    channels = 3 if color else 1
    config = config if base is not None else {**fam.default_config(image_size, channels), **config}
    _one_source(files, builtin, folder, "images", data)
    if data is not None:
        if tuple(data.images.shape[1:]) != (channels, image_size, image_size):
            raise StudioError(f"the prepared images are {tuple(data.images.shape[1:])}, not "
                              f"{(channels, image_size, image_size)}")
        dataset = {"name": data.facts.get("name", "prepared images"), "source": data.source,
                   "license": data.license, "count": int(data.images.shape[0])}
        dataset.update({k: v for k, v in data.facts.items() if k not in ("name", "count")})
    elif builtin:
        data = builtin_images(builtin, image_size, channels)
        dataset = {"name": builtin, "source": data.source, "license": data.license, "count": len(data.used)}
    else:
        paths = [check_server_folder(folder)] if folder else [Path(f) for f in files]
        data = images_from_files(paths, image_size, channels, fit, BACKGROUNDS[background], progress=progress)
        dataset = {"name": Path(folder).name if folder else "uploaded images", "source": data.source,
                   "license": data.license, "count": len(data.used), "skipped": len(data.skipped)}
        dataset.update({k: v for k, v in data.facts.items() if k not in ("count", "skipped")})
        if len(paths) == 1 and paths[0].is_dir():
            # So the originality check and fine-tuning can find these images again (services/training_data).
            dataset["folder"] = _portable(paths[0])
    report = data.report()
    count = int(data.images.shape[0])
    if int(recipe["batch_size"]) > count:
        if batch_given:
            raise StudioError(f"batch_size {recipe['batch_size']} is larger than the {count} usable images: give at "
                              f"least {recipe['batch_size']} images, or a batch_size of {count} or less")
        recipe["batch_size"] = count
        report += f"\nbatch size lowered to {count}, the number of images"
    shapes = {"image_size": image_size, "channels": channels}
    if base is not None:
        shapes["base_model"] = base.name
        dataset["notes"] = (dataset.get("notes", "") + "; " if dataset.get("notes") else "") + \
            f"fine-tuned from {base.name} ({'LoRA adapter' if fam.name == 'diffusion-lora' else 'full fine-tune'})"

    def write(path: Path) -> None:
        save_file({"data": data.images.contiguous()}, str(path))
        if base is not None:
            _copy_base(base.path, path.parent / BASE_IN_JOB)

    return {"config": config, "recipe": recipe, "dataset": dataset, "report": report, "counts": {"images": count},
            "write": write,
            "extra": {"shapes": shapes,
                      "preprocessing": {"fit": fit, "background": background, "flip": bool(flip)}}}


def _portable(folder: Path) -> str:
    """A data folder as studio.json records it: relative to the studio's folder when inside it (a shipped
    model's `data/<set>/raw/...`), else absolute."""
    from ..core.environment import REPO_ROOT

    folder = folder.resolve()
    return folder.relative_to(REPO_ROOT).as_posix() if REPO_ROOT in folder.parents else str(folder)


# -- fine-tuning a diffusion model ----------------------------------------------------------------------------
def fine_tuning_base(base_model: str | None):
    """The registry record of a diffusion model to fine-tune, or a StudioError naming the models that qualify."""
    registry = default_registry()
    choices = [r.name for r in registry.list(family="diffusion")]
    offer = f"diffusion models in this studio: {', '.join(choices) or 'none yet'}"
    name = str(base_model or "").strip()
    if not name:
        raise StudioError(f"base_model: name the diffusion model to fine-tune ({offer})")
    if not registry.exists(name):
        raise StudioError(f"base_model: there is no model named {name!r} to fine-tune ({offer})")
    record = registry.get(name)
    if record.family == "diffusion-lora":
        raise StudioError(f"base_model: {name!r} is itself a LoRA adapter; merge it into a standalone diffusion "
                          f"model (/merge_lora) and fine-tune that, or fine-tune its base "
                          f"{record.meta.get('config', {}).get('base_model')!r}")
    if record.family != "diffusion":
        raise StudioError(f"base_model: {name!r} is a {record.family} model; fine-tuning starts from a diffusion "
                          f"model ({offer})")
    return record


def _match_base(base, image_size, color) -> tuple[int, bool]:
    """The base's size and colour mode; a different size or mode asked for is refused (a fine-tune keeps its
    base's shapes). None means "the base's"."""
    shapes = base.meta.get("shapes", {})
    size, channels = int(shapes.get("image_size", 0)), int(shapes.get("channels", 0))
    if image_size not in (None, "") and int(image_size) != size:
        raise StudioError(f"image_size must match the base model: {base.name!r} makes {size} px images; got "
                          f"{image_size} (leave it empty for the base's)")
    if color is not None and bool(color) != (channels == 3):
        raise StudioError(f"color must match the base model: {base.name!r} is a "
                          f"{'colour' if channels == 3 else 'grey'} model; set color to {channels == 3}")
    return size, channels == 3


def _fine_tuning_config(fam, base, overrides: dict, rank: int | None) -> dict:
    """The new model's config: for a LoRA adapter, its rank and targets and the pointer to the base (name and
    weights hash); for a full fine-tune, the base's architecture and where it started."""
    from ..core.registry import weights_hash

    shapes = base.meta.get("shapes", {})
    pointer = {"base_weights": weights_hash(base.path)}
    if fam.name == "diffusion":
        if overrides:
            raise StudioError("a full fine-tune keeps its base model's architecture; remove the config overrides "
                              f"({', '.join(overrides)})")
        return {**base.meta.get("config", {}), "fine_tuned_from": base.name, **pointer}
    from ..families.diffusion import load_pipeline
    from ..families.diffusion_lora import narrowest_width

    config = {**fam.default_config(int(shapes["image_size"]), int(shapes["channels"])), **overrides,
              "base_model": base.name, **pointer}
    unet, _ = load_pipeline(base.path)
    widest_rank = narrowest_width(unet, config["target_modules"])
    if rank is not None:
        config["r"] = rank
        if "alpha" not in overrides:
            config["alpha"] = rank
    config["r"] = check_number("rank", config["r"], 1, widest_rank, whole=True,
                               unit=f" (the narrowest layer of {base.name!r} the adapter attaches to is "
                                    f"{widest_rank} wide)")
    config["alpha"] = check_number("alpha", config["alpha"], 1, 4096, whole=True)
    return config


def _copy_base(source: Path, target: Path) -> None:
    """The base pipeline's files (model_index.json, unet/, scheduler/) into the job."""
    import shutil

    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source / "model_index.json", target / "model_index.json")
    for part in ("unet", "scheduler"):
        shutil.copytree(source / part, target / part, dirs_exist_ok=True)


# -- text families ------------------------------------------------------------------------------------------
def read_corpus(files=None, builtin: str | None = None, folder: str | None = None, data=None) -> TextCorpus:
    """Exactly one source: uploaded files/zips, a built-in corpus name, a server folder (STUDIO_DATA_ROOTS),
    or a `TextCorpus` another service prepared."""
    if sum([bool(files), bool(builtin), bool(folder), data is not None]) != 1:
        raise StudioError("give exactly one text source: uploaded .txt files or a zip, a built-in corpus, "
                          "or a folder")
    if data is not None:
        return data
    if builtin:
        return builtin_corpus(builtin)
    if folder:
        return texts_from_files([check_server_folder(folder)])
    return texts_from_files([Path(f) for f in files])


def tokenize_corpus(corpus: TextCorpus, tokenizer_kind: str, vocab_size: int, val_fraction: float,
                    context: int, tokenizer=None):
    """(tokenizer, train ids, val ids), refusing a corpus too short for the context with a clear message."""
    train_text, val_text = corpus.split(val_fraction)
    tokenizer = tokenizer or build_tokenizer(tokenizer_kind, train_text, vocab_size)
    train_ids, val_ids = encode(tokenizer, train_text), encode(tokenizer, val_text)
    need = context + 2
    if val_ids.numel() < need or train_ids.numel() < need:
        raise StudioError(f"the corpus is too short for a context of {context} tokens: it gives "
                          f"{train_ids.numel()} training and {val_ids.numel()} validation tokens, and each needs "
                          f"at least {need}. Give more text (the validation part is the last "
                          f"{val_fraction:.0%}) or a shorter context")
    return tokenizer, train_ids, val_ids


def _text_job(corpus: TextCorpus, tok, train_ids, val_ids, recipe: dict, config: dict, dataset_name: str,
              notes: str, shapes: dict) -> dict:
    dataset = {"name": dataset_name, "source": corpus.source, "license": corpus.license,
               "count": len(corpus.documents), "characters": len(corpus.text), "files": len(corpus.used),
               "skipped": len(corpus.skipped), "train_tokens": int(train_ids.numel()),
               "val_tokens": int(val_ids.numel()), "notes": notes}
    if corpus.format != "text":  # Compose offers only models trained on ABC tunes
        dataset["format"] = corpus.format

    def write(path: Path) -> None:
        save_file({"train": train_ids, "val": val_ids}, str(path))
        tok.save_pretrained(str(path.parent / "tokenizer"))

    return {"config": config, "recipe": recipe, "dataset": dataset, "report": corpus.report(), "write": write,
            "counts": {"tokens": int(train_ids.numel())}, "extra": {"shapes": shapes}}


def _corpus_name(builtin, folder, data) -> str:
    if data is not None:
        return getattr(data, "name", None) or "prepared text"  # a service may name what it assembled
    return builtin or (Path(folder).name if folder else "uploaded text")


def _prepare_text(fam, recipe: dict, config: dict, *, files, builtin, folder, progress, data=None,
                  tokenizer_from: Path | None = None, **_) -> dict:
    from transformers import AutoTokenizer

    from ..families.text import SIZES, text_config

    if recipe["size"] not in SIZES:
        raise StudioError(f"size must be one of {', '.join(SIZES)}; got {recipe['size']!r}")
    corpus = read_corpus(files, builtin, folder, data)
    context = int(recipe["context"])
    # A job that continues a model keeps its tokenizer: the token ids must mean what they meant.
    base_tok = AutoTokenizer.from_pretrained(str(tokenizer_from)) if tokenizer_from else None
    tok, train_ids, val_ids = tokenize_corpus(corpus, recipe["tokenizer"], int(recipe["vocab_size"]),
                                              float(recipe["val_fraction"]), context, tokenizer=base_tok)
    config = {**text_config(recipe["size"], len(tok), context, float(recipe["dropout"])), **config}
    name = _corpus_name(builtin, folder, data)
    notes = f"first {1 - float(recipe['val_fraction']):.0%} of the text trains, the rest validates"
    if corpus.validation:
        notes = f"{len(corpus.documents):,} tunes train, {len(corpus.validation):,} others (chosen by title) validate"
    return _text_job(corpus, tok, train_ids, val_ids, recipe, config, name, notes,
                     {"vocab_size": len(tok), "context": context, "tokenizer": recipe["tokenizer"]})


def _prepare_lora(fam, recipe: dict, config: dict, *, files, builtin, folder, progress, data=None,
                  base_model: str | None = None, rank: int | None = None, alpha: int | None = None, **_) -> dict:
    from ..families.lora import load_base_tokenizer, portable_base
    from ..families.pretrained import check_pretrained_source

    base_model = str(base_model or DEFAULT_LORA_BASE).strip()
    if not default_registry().exists(base_model):
        try:
            check_pretrained_source(base_model)  # before the data is read: names, Hub ids, allowed folders
        except StudioError as exc:
            raise StudioError(f"the base model {base_model!r} is not available here: {exc}") from None
    base_model = portable_base(base_model)  # a name that means the same on any machine, never a path
    full_config = {**fam.default_config(base_model), **config}
    for key, value in (("r", rank), ("alpha", alpha)):
        if value is not None:
            full_config[key] = check_number(f"LoRA {'rank' if key == 'r' else key}", value, *LIMITS["lora_rank"],
                                            whole=True)
    corpus = read_corpus(files, builtin, folder, data)
    tok = load_base_tokenizer(base_model)
    if tok.eos_token_id is None:
        raise StudioError(f"the base model {base_model!r} has no end-of-text token")
    context = int(recipe["context"])
    tok, train_ids, val_ids = tokenize_corpus(corpus, "", 0, float(recipe["val_fraction"]), context, tokenizer=tok)
    name = _corpus_name(builtin, folder, data)
    notes = f"LoRA fine-tuning of {base_model}; first {1 - float(recipe['val_fraction']):.0%} trains"
    return _text_job(corpus, tok, train_ids, val_ids, recipe, full_config, name, notes,
                     {"base_model": base_model, "context": context})


# -- style families -----------------------------------------------------------------------------------------
def _prepare_style(fam, recipe: dict, config: dict, *, files, builtin, folder, progress, image_size: int = 128,
                   style: str | Path | None = None, styles: list[str] | None = None,
                   style_files: list[str | Path] | None = None, content: list[str] | None = None, **_) -> dict:
    """Content photos (the uploaded `files`, or installed images named in `content`; by default the installed
    photos) cut into square crops at two scales; the style: one image for "style" (a file or an installed
    image's name), several for "adain" (`style_files`, or installed names `styles`; by default all)."""
    if builtin or folder:
        raise StudioError("style networks learn from photos: upload content images, or leave the data empty to "
                          "use the installed photos")
    image_size = check_number("image_size", image_size, 1, 4096, whole=True)
    if image_size not in fam.image_sizes:
        raise StudioError(f"style networks train at {', '.join(map(str, fam.image_sizes))} px; got {image_size}")
    recipe["image_size"] = image_size
    content_files = [Path(f) for f in files or []]
    if not content_files and not content:
        content = [n for n, i in installed_images().items() if i.kind == "photo"]
    side = round(image_size * 1.25)  # room for random crops
    content_images, dataset = gather_images(content_files, content, "content")
    tensors = {"content": torch.from_numpy(np.stack([c for im in content_images for c in square_crops(im, side)]))}
    style_image = None
    if fam.name == "style":
        if style is None or style == "":
            raise StudioError("upload the style image the network should learn (parameter `style`)")
        path = Path(str(style))
        if path.is_file():
            try:
                style_image = open_image(path).convert("RGB")
            except StudioError as exc:
                raise StudioError(f"the style image {path.name}: {exc}") from None
            dataset.update(style=path.name, style_license="the user's own")
        else:
            info = installed_image(str(style))
            style_image = info.load()
            dataset.update(style=f"{info.name} ({info.source})", style_license=info.license)
    else:
        if styles is None and not style_files:
            styles = list(installed_images())
        style_images, style_facts = gather_images(style_files, styles, "style")
        tensors["style"] = torch.from_numpy(np.stack([c for im in style_images for c in square_crops(im, side)]))
        dataset.update(styles=style_facts.get("images", style_facts["source"]), style_license=style_facts["license"],
                       style_count=style_facts["count"])

    def write(path: Path) -> None:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))
        if style_image is not None:
            style_image.save(path.parent / "style.png")

    crops = int(tensors["content"].shape[0])
    report = f"{crops} content crops (two scales of each of {len(content_images)} photos)"
    if fam.name == "style":
        report += f"; style: {dataset['style']}"
    return {"config": {**fam.default_config(image_size, 3), **config}, "recipe": recipe, "dataset": dataset,
            "report": report, "write": write, "counts": {"images": crops},
            "extra": {"shapes": {"image_size": image_size, "channels": 3}}}


# -- choices for forms ----------------------------------------------------------------------------------------
def builtin_sets() -> dict[str, str]:
    """Built-in image sets: name -> title."""
    return {k: v["title"] for k, v in BUILTIN_IMAGE_SETS.items()}


def builtin_corpora() -> dict[str, str]:
    """Built-in text corpora: name -> title."""
    return {k: v["title"] for k, v in BUILTIN_CORPORA.items()}


def fine_tuning_bases() -> dict[str, dict]:
    """Diffusion models that can be fine-tuned: name -> {"image_size", "channels"}."""
    return {r.name: {"image_size": int(r.meta.get("shapes", {}).get("image_size", 0)),
                     "channels": int(r.meta.get("shapes", {}).get("channels", 0))}
            for r in default_registry().list(family="diffusion")}


def text_sizes() -> list[str]:
    """The sizes a GPT-2 trained from scratch comes in, smallest first."""
    from ..families.text import SIZES

    return list(SIZES)


def trainable_families() -> list[tuple[str, str]]:
    """(title, name) of every family a job can train."""
    from ..families import FAMILIES

    return [(f.title, f.name) for f in FAMILIES.values() if f.kind in ("image", "text", "style")]


# -- watching jobs ------------------------------------------------------------------------------------------
def job_status(job: str) -> dict:
    """A job's state as the worker last wrote it (state, step, steps, speed, ETA, message, model)."""
    return jobs.status(job)


def job_losses(job: str) -> list[dict]:
    """Every logged row of losses: {"step", <loss name>: value, ...}."""
    return jobs.losses(job)


def job_sample(job: str) -> Path | None:
    """The latest fixed-seed sample grid (image families) or None."""
    return jobs.sample_path(job)


def job_text_sample(job: str) -> str:
    """The latest text sample (text families), or "" when there is none yet."""
    path = jobs.job_dir(job) / "sample.txt"
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def cancel_job(job: str) -> dict:
    """Stop a running job after its current step; it keeps its last checkpoint so it can be resumed."""
    return jobs.cancel(job)


def resume_job(job: str) -> dict:
    """Continue a cancelled (or failed) job from its last checkpoint."""
    return jobs.resume(job)


def list_jobs() -> list[dict]:
    """Every training job, newest first, with its last status."""
    return jobs.list_jobs()


def delete_job(job: str) -> str:
    """Delete a finished, failed or cancelled job: its folder (data copy, checkpoints, logs) is removed; the
    model it saved stays. A running job must be cancelled first."""
    return jobs.delete(job)
