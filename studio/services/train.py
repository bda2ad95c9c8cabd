"""Start, watch, cancel and resume training jobs: the functions behind the Train tab, `/train` and the CLI."""
from __future__ import annotations

from pathlib import Path

from safetensors.torch import save_file

from .. import jobs
from ..datasets import BUILTIN_IMAGE_SETS, builtin_images, check_data_folder, images_from_files
from ..errors import StudioError, check_number
from ..families import get_family
from ..registry import check_name, default_registry

BACKGROUNDS = {"white": (255, 255, 255), "black": (0, 0, 0), "grey": (128, 128, 128)}
LIMITS = {"steps": (1, 1_000_000), "batch_size": (1, 1024)}


def check_new_model(name: str, models_dir: str | Path | None = None) -> None:
    """Refuse, before any work starts, a name that is not allowed, taken (in the registry or in `models_dir`,
    where a job may save instead) or being trained by a running job."""
    check_name(name)
    if default_registry().exists(name) or (models_dir is not None and (Path(models_dir) / name).exists()):
        raise StudioError(f"a model named {name!r} already exists; choose another name")
    if any(j.get("model") == name for j in jobs.list_jobs() if j.get("state") in jobs.ACTIVE_STATES):
        raise StudioError(f"a running job is already training a model named {name!r}")


def start_image_training(family: str, name: str, *, files: list[str | Path] | None = None,
                         builtin: str | None = None, folder: str | None = None, image_size: int = 32,
                         color: bool = False, steps: int | None = None, batch_size: int | None = None,
                         learning_rate: float | None = None, seed: int = 0, fit: str = "crop",
                         background: str = "white", flip: bool = False, recipe: dict | None = None,
                         config: dict | None = None, command: str = "", start: bool = True,
                         models_dir: Path | None = None, progress=None) -> dict:
    """Prepare the images, write a job folder and start its worker process.

    Returns {"job", "report", "status", "images"}. Raises StudioError for anything the user should fix.
    `recipe` overrides individual recipe keys (for example {"beta": 0.5}); so do the named arguments.
    `models_dir` saves the finished model somewhere other than $STUDIO_HOME/models (e.g. `checkpoints/`).
    """
    fam = get_family(family)
    if fam.kind != "image":
        raise StudioError(f"{fam.title} models do not train on images")
    check_new_model(name, models_dir)
    if image_size not in fam.image_sizes:
        raise StudioError(f"{fam.title} models take image sizes {', '.join(map(str, fam.image_sizes))}; "
                          f"got {image_size}")
    if fit not in ("crop", "pad"):
        raise StudioError("fit must be 'crop' or 'pad'")
    if background not in BACKGROUNDS:
        raise StudioError(f"background must be one of {', '.join(BACKGROUNDS)}")

    full_recipe = fam.default_recipe()
    for key, value in (recipe or {}).items():
        if key not in full_recipe:
            raise StudioError(f"{key!r} is not a training setting of {fam.title} models; "
                              f"they take: {', '.join(full_recipe)}")
        full_recipe[key] = value
    for key, value in (("steps", steps), ("batch_size", batch_size), ("learning_rate", learning_rate)):
        if value is not None:
            full_recipe[key] = value
    full_recipe.update(seed=int(seed), flip=bool(flip))
    full_recipe["steps"] = check_number("steps", full_recipe["steps"], *LIMITS["steps"], whole=True)
    full_recipe["batch_size"] = check_number("batch_size", full_recipe["batch_size"], *LIMITS["batch_size"], whole=True)
    if not (0 < float(full_recipe["learning_rate"]) <= 1):
        raise StudioError(f"learning_rate must be above 0 and at most 1; got {full_recipe['learning_rate']}")

    channels = 3 if color else 1
    chosen = [bool(files), bool(builtin), bool(folder)]
    if sum(chosen) != 1:
        raise StudioError("give exactly one data source: uploaded images or a zip, a built-in set, or a folder")
    if builtin:
        data = builtin_images(builtin, image_size, channels)
        dataset = {"name": builtin, "source": data.source, "license": data.license, "count": len(data.used)}
    else:
        paths = [check_data_folder(folder)] if folder else [Path(f) for f in files]
        data = images_from_files(paths, image_size, channels, fit, BACKGROUNDS[background], progress=progress)
        dataset = {"name": Path(folder).name if folder else "uploaded images", "source": data.source,
                   "license": data.license, "count": len(data.used), "skipped": len(data.skipped)}
        dataset.update({k: v for k, v in data.facts.items() if k not in ("count", "skipped")})
    model_config = {**fam.default_config(image_size, channels), **(config or {})}
    job_id = jobs.create_job(family, name, model_config, full_recipe, dataset,
                             lambda path: save_file({"data": data.images.contiguous()}, str(path)),
                             extra={"shapes": {"image_size": image_size, "channels": channels},
                                    "preprocessing": {"fit": fit, "background": background, "flip": flip},
                                    "command": command,
                                    **({"models_dir": str(Path(models_dir).resolve())} if models_dir else {})})
    status = jobs.start(job_id) if start else jobs.status(job_id)
    return {"job": job_id, "report": data.report(), "status": status, "images": len(data.used)}


def builtin_sets() -> dict[str, str]:
    return {k: v["title"] for k, v in BUILTIN_IMAGE_SETS.items()}
