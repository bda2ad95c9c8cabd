"""Small builders of real files for tests: PNG images, zips, tiny saved models."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image


def png_bytes(size=(32, 32), mode="RGB", seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode if mode in ("L", "RGB", "RGBA") else "RGB"]
    array = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    im = Image.fromarray(array[..., 0] if channels == 1 else array, mode="L" if channels == 1 else
                         ("RGBA" if channels == 4 else "RGB"))
    if mode == "P":
        im = im.convert("P")
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def digit_pngs(folder: Path, count: int = 24, size: int = 32) -> list[Path]:
    """Real handwritten digits (scikit-learn) written as PNG files, as an artist's uploads would be."""
    from sklearn.datasets import load_digits

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, img in enumerate(load_digits().images[:count]):
        im = Image.fromarray(np.uint8(img * 255 / 16)).resize((size, size), Image.Resampling.BICUBIC)
        paths.append(folder / f"digit-{i:03d}.png")
        im.save(paths[-1])
    return paths


def save_tiny_vae(registry, name: str, image_size: int = 16, channels: int = 1, seed: int = 0):
    """Save an untrained tiny VAE into `registry` (None: the default one) through the models service, as
    training does (for plumbing tests that need a model fast)."""
    import torch

    from studio.families import get_family
    from studio.services.models import save_model

    family = get_family("vae")
    config = {**family.default_config(image_size, channels), "base_width": 8, "latent_dim": 4}
    torch.manual_seed(seed)
    module = family.build(config)
    meta = {"config": config, "shapes": {"image_size": image_size, "channels": channels},
            "recipe": family.default_recipe(), "dataset": {"name": "none", "source": "untrained test model"}}
    return save_model(name, "vae", module, meta, registry=registry)


def model_zip(folder: Path, path: Path, edit: dict | None = None, replace: dict[str, bytes] | None = None,
              top: str | None = None) -> Path:
    """A model folder zipped as the studio exports it (`<top>/<file>`), with JSON files changed on the way:
    `edit` maps a file inside the folder ("studio.json", "unet/config.json") to a function that changes its
    parsed JSON in place; `replace` maps files to new bytes (None drops the file). For hostile archives."""
    import json

    folder = Path(folder)
    top = top or folder.name
    members = {}
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = file.relative_to(folder).as_posix()
        data = file.read_bytes()
        if edit and rel in edit:
            parsed = json.loads(data)
            edit[rel](parsed)
            data = json.dumps(parsed).encode()
        members[f"{top}/{rel}"] = data
    for rel, data in (replace or {}).items():
        if data is None:
            members.pop(f"{top}/{rel}", None)
        else:
            members[f"{top}/{rel}"] = data
    return write_zip(path, members)
