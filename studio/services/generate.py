"""Unconditional image generation: the function behind the Generate tab, `/generate` and the CLI."""
from __future__ import annotations

import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from .. import __version__
from ..devices import pick_device
from ..errors import StudioError
from ..media import grid, read_png_parameters, save_png, to_pil, zip_files
from ..registry import default_registry

MAX_COUNT = 64
MAX_SEED = 2**31 - 1


@dataclass
class Generated:
    files: list[Path]     # one PNG per image, parameters embedded
    seeds: list[int]
    grid: Path            # all images in one PNG
    zip: Path             # all PNGs in one zip
    parameters: dict      # shared settings (model, weights hash, family, sampling settings)


def resolve_seed(seed: int | None) -> int:
    """-1 or None means a fresh random seed; others must be in 0..2^31-1."""
    if seed is None or int(seed) < 0:
        return secrets.randbelow(MAX_SEED)
    seed = int(seed)
    if seed > MAX_SEED:
        raise StudioError(f"seed must be between 0 and {MAX_SEED} (or -1 for random); got {seed}")
    return seed


def load_image_model(model: str):
    """The registry record and the loaded model (on the chosen device) of an image model, or a StudioError."""
    registry = default_registry()
    record = registry.get(model)
    loaded = registry.load(model, pick_device())
    if loaded.family.kind != "image":
        raise StudioError(f"{model!r} is a {loaded.family.title} model, not an image model")
    return record, loaded


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


def generate(model: str, count: int = 4, seed: int | None = -1, out_dir: Path | None = None,
             **settings) -> Generated:
    """Generate `count` images with seeds seed, seed+1, ...; write PNGs, a grid and a zip."""
    if not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        raise StudioError(f"count must be between 1 and {MAX_COUNT}; got {count}")
    base = resolve_seed(seed)
    seeds = [(base + i) % (MAX_SEED + 1) for i in range(count)]
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
    return Generated(files, seeds, grid_path, zip_path, params)


def parameters_from_png(path: str | Path) -> dict:
    """The generation parameters embedded in a studio PNG ("reuse parameters")."""
    try:
        params = read_png_parameters(path)
    except Exception:
        raise StudioError("that file is not a PNG image") from None
    if not params or "model" not in params:
        raise StudioError("that PNG carries no studio parameters; only PNGs saved by the studio do")
    return params
