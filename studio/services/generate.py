"""Unconditional image generation: the function behind the Generate tab, `/generate` and the CLI."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from .. import __version__
from ..core.errors import StudioError, check_number
from ..core.media import grid, read_png_parameters, save_png, to_pil, zip_files
from ..core.outputs import new_output_dir
from ..core.seeds import resolve_seed, seed_range
from ..families import FAMILIES
from .gallery import save_to_gallery
from .models import load_image_model
from .zerogpu import on_gpu

MAX_COUNT = 64
# Images are sampled in chunks of this many: a Stop keeps every finished chunk, and a diffusion step of one
# chunk takes well under a second on a CPU. The chunks of a batch are the same whenever its count is, so a
# batch (count, first seed) still regenerates exactly.
CHUNK = 16
Progress = Callable[[float, str], None]


@dataclass
class Generated:
    files: list[Path]     # one PNG per image, parameters embedded
    seeds: list[int]
    grid: Path            # all images in one PNG
    zip: Path             # all PNGs in one zip
    parameters: dict      # shared settings (model, weights hash, family, sampling settings)
    requested: int = 0    # the count asked for; more than len(files) when the batch was stopped
    stopped: bool = False  # `cancelled()` turned True: only the images finished before it are here
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
    loaded, checked, params = _prepare(model, settings)
    return loaded.family.sample(loaded, seeds, checked), params


def _prepare(model: str, settings: dict):
    record, loaded = load_image_model(model)
    checked = loaded.family.check_settings(settings)
    params = {"model": record.name, "weights": loaded.weights_hash, "family": loaded.family.name, **checked,
              "studio_version": __version__}
    return loaded, checked, params


@on_gpu  # ZeroGPU Spaces lend the GPU per call (services/zerogpu.py)
def generate(model: str, count: int = 4, seed: int | None = -1, out_dir: Path | None = None,
             progress: Progress | None = None, cancelled: Callable[[], bool] | None = None,
             finished: Callable[[list[Path], list[int], list[str | None]], None] | None = None,
             gallery: bool = True, **settings) -> Generated:
    """Generate `count` images with seeds seed, seed+1, ...; write PNGs, a grid and a zip. Each PNG is also
    kept in the gallery as soon as its chunk is finished (`gallery=False`: not, for measurements).

    `progress(fraction, text)` reports the images and denoising steps done; `finished(files, seeds, ids)`
    hands over every PNG written so far, with its gallery id, after each chunk of `CHUNK` images. When
    `cancelled()` turns True the work stops within one sampling step and the result holds the images
    finished before it (`stopped`); those are in the gallery too. StudioError if none was finished.
    """
    count = check_number("count", count, 1, MAX_COUNT, whole=True)
    base = resolve_seed(seed)
    seeds = seed_range(base, count)
    report = progress or (lambda fraction, text: None)
    report(0.0, "loading the model")
    loaded, checked, params = _prepare(model, settings)
    out = Path(out_dir) if out_dir else new_output_dir("generate")
    out.mkdir(parents=True, exist_ok=True)
    files, images, ids, stopped = [], [], [], False
    for start in range(0, count, CHUNK):
        chunk = seeds[start:start + CHUNK]

        def step(done: int, total: int, start=start, chunk=chunk) -> None:
            fraction = (start + len(chunk) * done / total) / count
            report(fraction, f"images {start + 1}-{start + len(chunk)} of {count}: step {done}/{total}")

        try:
            if cancelled is not None and cancelled():
                raise InterruptedError("cancelled")
            batch = loaded.family.sample(loaded, chunk, checked, progress=step, cancelled=cancelled)
        except InterruptedError:
            stopped = True
            break
        # Each PNG also names its batch: CPU and GPU kernels pick their algorithms by batch size, so an image
        # can differ by a pixel level when made alone; regenerating the batch (count, first seed) is exact.
        for i, (img, s) in enumerate(zip(batch, chunk), start=start):
            png_params = {**params, "seed": s, "batch": {"seed": base, "count": count, "index": i}}
            files.append(save_png(to_pil(img), out / f"{model}-seed{s}.png", png_params))
            if gallery:  # a copy: request outputs are swept after STUDIO_OUTPUT_MINUTES, the gallery stays
                ids.append(save_to_gallery("generate", [files[-1]], png_params, model=params["model"], seed=s))
        images.append(batch)
        report((start + len(chunk)) / count, f"{start + len(chunk)} of {count} images done")
        if finished is not None:
            finished(list(files), seeds[:len(files)], list(ids) if gallery else [None] * len(files))
    if not files:
        raise StudioError("stopped before the first image was finished")
    done = seeds[:len(files)]
    grid_path = save_png(grid(torch.cat(images)), out / f"{model}-grid-seed{base}.png", {**params, "seeds": done})
    zip_path = zip_files(files, out / f"{model}-seed{base}-x{len(files)}.zip")
    return Generated(files, done, grid_path, zip_path, params, count, stopped, ids)


def parameters_from_png(path: str | Path) -> dict:
    """The generation parameters embedded in a studio PNG ("reuse parameters")."""
    try:
        params = read_png_parameters(path)
    except Exception:
        raise StudioError("that file is not a PNG image") from None
    if not params or "model" not in params:
        raise StudioError("that PNG carries no studio parameters; only PNGs saved by the studio do")
    return params
