"""Training style networks as background jobs: per-style networks (family "style") and AdaIN decoders
(family "adain"). The function behind the Train tab's style section, `/train` and `python -m studio`.

Content (and, for AdaIN, style) images come from the user's files or from images installed with the
studio's packages (`studio.style.examples`). They are cut into square crops at two scales and stored with
the job (`data.safetensors`); a per-style network's style image is saved in the job folder as `style.png`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

from .. import jobs
from ..datasets import open_image
from ..errors import StudioError, check_number
from ..families import get_family
from ..style.examples import installed_image, installed_images
from .train import LIMITS, check_new_model

SCALES = (1.0, 2.0)   # each image is cut at its short side = S and = 2S, for crops at two scales
MAX_CROPS_PER_SCALE = 3


def square_crops(im: Image.Image, side: int) -> list[np.ndarray]:
    """uint8 (3, side, side) squares of `im` at two scales: short side scaled to side*f, then up to
    MAX_CROPS_PER_SCALE squares evenly spread along each axis."""
    im = im.convert("RGB")
    out = []
    for f in SCALES:
        scale = side * f / min(im.size)
        w, h = max(side, round(im.width * scale)), max(side, round(im.height * scale))
        big = im.resize((w, h), Image.Resampling.LANCZOS)
        nx = min(MAX_CROPS_PER_SCALE, max(1, round(w / side)))
        ny = min(MAX_CROPS_PER_SCALE, max(1, round(h / side)))
        for y in np.linspace(0, h - side, ny).round().astype(int):
            for x in np.linspace(0, w - side, nx).round().astype(int):
                out.append(np.asarray(big.crop((x, y, x + side, y + side))).transpose(2, 0, 1))
    return out


def gather_images(files: list[str | Path] | None, builtin: list[str] | None, what: str) -> tuple[list[Image.Image], dict]:
    """Open the user's files or the named installed images; returns the images and the data-set facts."""
    if bool(files) == bool(builtin):
        raise StudioError(f"give {what} images either as files or as names of installed images "
                          f"({', '.join(installed_images())}), not both and not neither")
    images, names, skipped = [], [], []
    if builtin:
        licences, sources = set(), []
        for name in builtin:
            info = installed_image(name)
            images.append(info.load())
            names.append(name)
            licences.add(info.license)
            sources.append(info.source)
        return images, {"name": f"installed {what} images", "source": "; ".join(sources), "count": len(images),
                        "images": names, "license": ", ".join(sorted(licences))}
    for f in files:
        path = Path(f)
        try:
            images.append(open_image(path, path.name).convert("RGB"))
            names.append(path.name)
        except StudioError as exc:
            skipped.append(f"{path.name}: {exc}")
    if not images:
        raise StudioError(f"none of the {what} files is a usable image ({'; '.join(skipped[:3])})")
    return images, {"name": f"uploaded {what} images", "source": "uploaded: " + ", ".join(names[:5]),
                    "count": len(images), "skipped": len(skipped), "license": "unknown (the user's own images)"}


def start_style_training(family: str, name: str, *, style: str | Path | None = None,
                         styles: list[str] | None = None, style_files: list[str | Path] | None = None,
                         content_files: list[str | Path] | None = None, content: list[str] | None = None,
                         image_size: int = 128, steps: int | None = None, batch_size: int | None = None,
                         learning_rate: float | None = None, style_weight: float | None = None, seed: int = 0,
                         recipe: dict | None = None, config: dict | None = None, command: str = "",
                         start: bool = True) -> dict:
    """Write a training job for a style network and start its worker.

    family "style": one style image, `style` (a file path or an installed image's name).
    family "adain": several style images, `style_files` or installed names `styles`.
    Content images: `content_files` or installed names `content` (default: the installed photos).
    Returns {"job", "status", "images"}.
    """
    fam = get_family(family)
    if fam.kind != "style":
        raise StudioError(f"{fam.title} models are not style networks; use the image training for them")
    check_new_model(name)
    if image_size not in fam.image_sizes:
        raise StudioError(f"style networks train at {', '.join(map(str, fam.image_sizes))} px; got {image_size}")
    full = fam.default_recipe()
    for key, value in (recipe or {}).items():
        if key not in full:
            raise StudioError(f"{key!r} is not a training setting of {fam.title} models; they take: {', '.join(full)}")
        full[key] = value
    for key, value in (("steps", steps), ("batch_size", batch_size), ("learning_rate", learning_rate),
                       ("style_weight", style_weight)):
        if value is not None:
            full[key] = value
    full.update(seed=int(seed), image_size=int(image_size))
    full["steps"] = check_number("steps", full["steps"], *LIMITS["steps"], whole=True)
    full["batch_size"] = check_number("batch_size", full["batch_size"], *LIMITS["batch_size"], whole=True)
    if not (0 < float(full["learning_rate"]) <= 1):
        raise StudioError(f"learning_rate must be above 0 and at most 1; got {full['learning_rate']}")
    if float(full["style_weight"]) <= 0:
        raise StudioError("style_weight must be above 0")

    if not content_files and not content:
        content = [n for n, i in installed_images().items() if i.kind == "photo"]
    side = round(image_size * 1.25)  # room for random crops
    content_images, content_facts = gather_images(content_files, content, "content")
    tensors = {"content": torch.from_numpy(np.stack([c for im in content_images for c in square_crops(im, side)]))}
    dataset = {**content_facts}
    style_image = None
    if family == "style":
        if style is None:
            raise StudioError("choose the style image this network learns")
        path = Path(str(style))
        if path.is_file():
            style_image, style_facts = open_image(path, path.name).convert("RGB"), {"style": path.name,
                                                                                   "style_license": "the user's own"}
        else:
            info = installed_image(str(style))
            style_image, style_facts = info.load(), {"style": f"{info.name} ({info.source})",
                                                     "style_license": info.license}
        dataset.update(style_facts)
    else:
        if styles is None and style_files is None:
            styles = list(installed_images())
        style_images, style_facts = gather_images(style_files, styles, "style")
        tensors["style"] = torch.from_numpy(np.stack([c for im in style_images for c in square_crops(im, side)]))
        dataset.update(styles=style_facts.get("images", style_facts["source"]), style_license=style_facts["license"],
                       style_count=style_facts["count"])
    model_config = {**fam.default_config(image_size, 3), **(config or {})}

    def write_data(path: Path) -> None:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))
        if style_image is not None:
            style_image.save(path.parent / "style.png")

    job_id = jobs.create_job(family, name, model_config, full, dataset, write_data,
                             extra={"shapes": {"image_size": image_size, "channels": 3}, "command": command})
    status = jobs.start(job_id) if start else jobs.read_status(jobs.job_dir(job_id))
    return {"job": job_id, "status": status, "images": int(tensors["content"].shape[0])}


def main(argv: list[str] | None = None) -> int:
    """Train a style network in the foreground (how the shipped models in checkpoints/ were made)."""
    import argparse
    import json
    import shlex
    import sys

    from ..train import run

    parser = argparse.ArgumentParser(prog="python -m studio.services.style_train", description=main.__doc__)
    parser.add_argument("--family", choices=["style", "adain"], required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--style", help="per-style networks: an image file or an installed image's name")
    parser.add_argument("--styles", nargs="*", help="AdaIN: installed style image names (default: all installed)")
    parser.add_argument("--content", nargs="*", help="installed content image names (default: the photos)")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--style-weight", type=float)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--minutes", type=float, help="stop after this many minutes and save the model as it is "
                        "then (its card records the steps reached); for time-boxed runs on shared machines")
    parser.add_argument("--models-dir", help="save the finished model here (e.g. checkpoints) instead of $STUDIO_HOME/models")
    args = parser.parse_args(argv)
    command = "python -m studio.services.style_train " + " ".join(map(shlex.quote, argv or sys.argv[1:]))
    try:
        made = start_style_training(args.family, args.name, style=args.style, styles=args.styles, content=args.content,
                                    image_size=args.size, steps=args.steps, batch_size=args.batch_size,
                                    learning_rate=args.learning_rate, style_weight=args.style_weight,
                                    seed=args.seed, command=command, start=False)
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    folder = jobs.job_dir(made["job"])
    if args.models_dir:
        spec = json.loads((folder / "spec.json").read_text(encoding="utf-8"))
        spec["models_dir"] = str(Path(args.models_dir).resolve())
        jobs.write_json_atomic(folder / "spec.json", spec)
    print(f"job {made['job']} ({made['images']} content crops); training in the foreground", flush=True)
    import threading

    timer, time_up = None, threading.Event()
    if args.minutes:
        def stop_for_time():
            time_up.set()
            (folder / "cancel").touch()
        timer = threading.Timer(args.minutes * 60, stop_for_time)
        timer.daemon = True
        timer.start()
    state = run(folder)
    if timer is not None:
        timer.cancel()
    if state == "cancelled" and time_up.is_set():  # a cancel or SIGTERM from outside stays a cancel
        # Time is up: make the steps reached the run's length, then "resume", which trains no further and
        # saves the model through the same path as a finished run.
        reached = json.loads((folder / "checkpoint" / "state.json").read_text(encoding="utf-8"))["step"]
        spec = json.loads((folder / "spec.json").read_text(encoding="utf-8"))
        spec["recipe"]["steps"] = reached
        jobs.write_json_atomic(folder / "spec.json", spec)
        (folder / "cancel").unlink(missing_ok=True)
        print(f"time budget reached at step {reached}; saving", flush=True)
        state = run(folder, resume=True)
    print(json.dumps(jobs.read_status(folder), indent=1))
    return 0 if state == "completed" else 1


if __name__ == "__main__":
    raise SystemExit(main())
