"""Unconditional image generation: the function behind the Generate tab, `/generate` and the CLI."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .. import __version__
from ..core.errors import StudioError, check_number
from ..core.media import grid, read_png_parameters, save_png, to_pil, zip_files
from ..core.seeds import resolve_seed, seed_range
from ..families import FAMILIES
from .gallery import save_to_gallery
from .models import load_image_model
from .zerogpu import on_gpu

MAX_COUNT = 64


@dataclass
class Generated:
    files: list[Path]     # one PNG per image, parameters embedded
    seeds: list[int]
    grid: Path            # all images in one PNG
    zip: Path             # all PNGs in one zip
    parameters: dict      # shared settings (model, weights hash, family, sampling settings)
    gallery_ids: list[str | None] = field(default_factory=list)  # each PNG's gallery item (None: not kept)


def sampling_settings(kind: str = "image") -> dict:
    """Every sampling setting that a family of `kind` takes, by name (a `Setting`: default, range, help)."""
    found = {}
    for family in FAMILIES.values():
        if family.kind == kind:
            for setting in family.settings:
                found.setdefault(setting.name, setting)
    return found


def sample_images(model: str, seeds: list[int], settings: dict) -> tuple[torch.Tensor, dict]:
    """Images (N, C, H, W) in [0, 1] for `seeds`, and the parameters that made them.

    `settings` holds the family's sampling settings by name; None means "the default". Settings of another
    family are refused with a message naming the ones this model takes.
    """
    record, loaded = load_image_model(model)
    family = loaded.family
    checked = family.check_settings(settings)
    images = family.sample(loaded, seeds, checked)
    params = {"model": record.name, "weights": loaded.weights_hash, "family": family.name, **checked,
              "studio_version": __version__}
    return images, params


@on_gpu  # ZeroGPU Spaces lend the GPU per call (services/zerogpu.py)
def generate(model: str, count: int = 4, seed: int | None = -1, out_dir: Path | None = None,
             gallery: bool = True, **settings) -> Generated:
    """Generate `count` images with seeds seed, seed+1, ...; write PNGs, a grid and a zip. Each PNG is also
    kept in the gallery (`gallery=False`: not, for measurements)."""
    count = check_number("count", count, 1, MAX_COUNT, whole=True)
    base = resolve_seed(seed)
    seeds = seed_range(base, count)
    images, params = sample_images(model, seeds, settings)
    out = Path(out_dir or tempfile.mkdtemp(prefix="studio-generate-"))
    out.mkdir(parents=True, exist_ok=True)
    # Each PNG also names its batch: CPU and GPU kernels pick their algorithms by batch size, so an image can
    # differ by a pixel level when made alone; regenerating the batch (count, first seed) is exact.
    files = [save_png(to_pil(img), out / f"{model}-seed{s}.png",
                      {**params, "seed": s, "batch": {"seed": base, "count": count, "index": i}})
             for i, (img, s) in enumerate(zip(images, seeds))]
    grid_path = save_png(grid(images), out / f"{model}-grid-seed{base}.png", {**params, "seeds": seeds})
    zip_path = zip_files(files, out / f"{model}-seed{base}-x{count}.zip")
    ids = [save_to_gallery("generate", [f], {**params, "seed": s, "batch": {"seed": base, "count": count, "index": i}},
                           model=params["model"], seed=s)
           for i, (f, s) in enumerate(zip(files, seeds))] if gallery else []
    return Generated(files, seeds, grid_path, zip_path, params, ids)


def parameters_from_png(path: str | Path) -> dict:
    """The generation parameters embedded in a studio PNG ("reuse parameters")."""
    try:
        params = read_png_parameters(path)
    except Exception:
        raise StudioError("that file is not a PNG image") from None
    if not params or "model" not in params:
        raise StudioError("that PNG carries no studio parameters; only PNGs saved by the studio do")
    return params
