"""Training images in: uploads (images or zips), folders, built-in sets, made ready for a model.

Every source becomes one uint8 tensor (N, C, H, W) at the model's size, plus a report of which files were
used and which were skipped and why. The tensor is stored with the training job (`data.safetensors`), so a
job can be resumed after the uploads are gone.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from PIL import Image, ImageOps

from ..core.environment import environment
from ..core.errors import StudioError
from ..core.images import IMAGE_SUFFIXES, open_image
from .archives import zip_members

BUILTIN_IMAGE_SETS = {
    "digits": {
        "title": "Handwritten digits (scikit-learn, 1,797 images, 8x8 grey)",
        "source": "sklearn.datasets.load_digits (UCI ML hand-written digits)",
        "license": "BSD-3-Clause (scikit-learn); UCI data",
        "channels": 1,
    },
    # torchvision's sets download on first use (into $STUDIO_HOME/datasets); no package ships them.
    "mnist": {
        "title": "MNIST handwritten digits (torchvision download, 60,000 images, 28x28 grey)",
        "source": "torchvision.datasets.MNIST (LeCun, Cortes & Burges), training split",
        "license": "CC-BY-SA-3.0 (as stated by the dataset's maintainers)",
        "channels": 1, "torchvision": "MNIST",
    },
    "fashion-mnist": {
        "title": "Fashion-MNIST clothing (torchvision download, 60,000 images, 28x28 grey)",
        "source": "torchvision.datasets.FashionMNIST (Zalando Research), training split",
        "license": "MIT",
        "channels": 1, "torchvision": "FashionMNIST",
    },
    "cifar10": {
        "title": "CIFAR-10 small photos (torchvision download, 50,000 images, 32x32 colour)",
        "source": "torchvision.datasets.CIFAR10 (Krizhevsky, 2009), training split",
        "license": "unstated by its authors; widely used for research",
        "channels": 3, "torchvision": "CIFAR10",
    },
}
FACTS_FILE = "dataset.json"  # a folder's own description: name, source, licence, attribution


@dataclass
class ImageData:
    images: torch.Tensor                       # uint8 (N, C, H, W)
    used: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    source: str = ""
    license: str = "unknown (the user's own images)"
    facts: dict = field(default_factory=dict)  # from a folder's dataset.json: name, attribution, ...

    def report(self) -> str:
        lines = [f"{len(self.used)} images used"]
        if self.skipped:
            lines.append(f"{len(self.skipped)} skipped:")
            lines += [f"  {name}: {why}" for name, why in self.skipped[:50]]
            if len(self.skipped) > 50:
                lines.append(f"  ... and {len(self.skipped) - 50} more")
        return "\n".join(lines)


def to_model_image(im: Image.Image, size: int, channels: int, fit: str = "crop",
                   background: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """Flatten alpha on `background`, centre-crop (or pad) to a square, resize, and convert.

    Returns uint8 (channels, size, size).
    """
    if im.mode in ("P", "PA") or (im.mode in ("L", "RGB") and "transparency" in im.info):
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "La", "RGBa"):
        base = Image.new("RGB", im.size, background)
        base.paste(im.convert("RGBA"), mask=im.convert("RGBA").getchannel("A"))
        im = base
    im = im.convert("RGB") if channels == 3 else im.convert("L")
    if fit == "pad":
        fill = background if channels == 3 else int(np.mean(background))
        im = ImageOps.pad(im, (size, size), method=Image.Resampling.LANCZOS, color=fill)
    else:
        im = ImageOps.fit(im, (size, size), method=Image.Resampling.LANCZOS)
    array = np.asarray(im, dtype=np.uint8)
    return array[None] if channels == 1 else array.transpose(2, 0, 1)


def _walk_sources(paths: list[Path]) -> Iterator[tuple[str, bytes | Path | None, str]]:
    for path in paths:
        path = Path(path)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.name == FACTS_FILE and child.parent == path:
                    continue  # the folder's description, read by `folder_facts`
                if child.is_file() and not child.name.startswith("."):
                    if child.suffix.lower() in IMAGE_SUFFIXES:
                        yield str(child.relative_to(path)), child, ""
                    else:
                        yield str(child.relative_to(path)), None, "not an image file type"
        elif path.suffix.lower() == ".zip":
            yield from zip_members(path, IMAGE_SUFFIXES, "not an image file type (PNG, JPEG, WebP, BMP, GIF)")
        elif not path.is_file():
            yield path.name, None, "file not found"
        else:
            yield path.name, path, ""


def images_from_files(paths: list[Path], size: int, channels: int, fit: str = "crop",
                      background: tuple[int, int, int] = (255, 255, 255), progress=None) -> ImageData:
    """Prepare every usable image among uploaded files, zips and folders; report the rest."""
    if not paths:
        raise StudioError("upload images (PNG, JPEG, WebP) or a zip of them, or pick a built-in data set")
    arrays, used, skipped = [], [], []
    for i, (name, data, reason) in enumerate(_walk_sources(paths)):
        if progress is not None and i % 50 == 0:
            progress(i)
        if data is None:
            skipped.append((name, reason))
            continue
        try:
            im = open_image(data, working_side=2 * size)
            arrays.append(to_model_image(im, size, channels, fit, background))
            used.append(name)
        except StudioError as exc:
            skipped.append((name, str(exc)))
    if not arrays:
        detail = "; ".join(f"{n}: {why}" for n, why in skipped[:5])
        raise StudioError("no usable images were found" + (f" ({detail})" if detail else "")
                          + ". Upload PNG, JPEG or WebP images, or a zip of them")
    names = sorted({Path(p).name for p in paths})
    data = ImageData(torch.from_numpy(np.stack(arrays)), used, skipped, source="uploaded: " + ", ".join(names[:5]))
    if len(paths) == 1 and Path(paths[0]).is_dir():
        data.facts = folder_facts(Path(paths[0]))
        data.source = str(data.facts.get("source", data.source))
        data.license = str(data.facts.get("license", data.license))
    return data


def folder_facts(folder: Path) -> dict:
    """The folder's dataset.json (written by data/<set>/prepare.py scripts), or {} when it has none.

    Known keys: name, source, license, attribution, notes."""
    path = folder / FACTS_FILE
    if not path.is_file():
        return {}
    try:
        facts = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StudioError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(facts, dict):
        raise StudioError(f"{path} must hold a JSON object")
    keys = ("name", "source", "license", "attribution", "notes")
    return {k: str(facts[k]) for k in keys if k in facts}


def builtin_images(name: str, size: int, channels: int) -> ImageData:
    """A built-in image set, installed with the studio's requirements (no download)."""
    if name not in BUILTIN_IMAGE_SETS:
        raise StudioError(f"unknown built-in data set {name!r}; choose one of {', '.join(BUILTIN_IMAGE_SETS)}")
    facts = BUILTIN_IMAGE_SETS[name]
    if name == "digits":
        from sklearn.datasets import load_digits

        raw = load_digits().images  # (1797, 8, 8) floats 0..16, ink bright on dark
        arrays = []
        for img in raw:
            im = Image.fromarray(np.uint8(np.round(img * (255 / 16))), mode="L")
            # Upscale the 8x8 scans smoothly; LANCZOS would ring around the strokes at this ratio.
            im = im.resize((size, size), Image.Resampling.BICUBIC)
            arrays.append(to_model_image(im, size, channels))
        used = [f"digit {i}" for i in range(len(arrays))]
        return ImageData(torch.from_numpy(np.stack(arrays)), used, [], source=facts["source"], license=facts["license"])
    return _torchvision_images(name, facts, size, channels)


def _torchvision_images(name: str, facts: dict, size: int, channels: int) -> ImageData:
    """A torchvision data set's training split, downloaded on first use; a clear StudioError offline."""
    import os

    import torch.nn.functional as F
    import torchvision

    root = environment().home / "datasets" / "torchvision"
    cls = getattr(torchvision.datasets, facts["torchvision"])
    try:
        ds = cls(str(root), train=True, download=False)  # already downloaded: no network needed
    except RuntimeError:
        if os.environ.get("HF_HUB_OFFLINE") == "1":
            raise StudioError(f"{name} is not downloaded yet and the studio runs offline (HF_HUB_OFFLINE=1); "
                              "use the built-in digits set or upload images, or run online once to download "
                              f"it into {root}") from None
        try:
            ds = cls(str(root), train=True, download=True)
        except Exception as exc:  # urllib and torchvision raise several types for a failed download
            raise StudioError(f"could not download {name} ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
                              "check the network, or use the built-in digits set or your own images") from None
    raw = ds.data if isinstance(ds.data, torch.Tensor) else torch.from_numpy(np.asarray(ds.data))
    x = raw.float().unsqueeze(1) if raw.ndim == 3 else raw.float().permute(0, 3, 1, 2)  # (N, C, H, W), 0..255
    if x.shape[1] == 1 and channels == 3:
        x = x.expand(-1, 3, -1, -1)
    elif x.shape[1] == 3 and channels == 1:
        x = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)  # ITU-R 601 luma
    images = []
    for chunk in x.split(4096):  # bounded memory for the float copies
        images.append(F.interpolate(chunk, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
                      .round().clamp(0, 255).to(torch.uint8))
    images = torch.cat(images)
    return ImageData(images, [f"{name} {i}" for i in range(images.shape[0])], [], source=facts["source"],
                     license=facts["license"])


# -- photos for style networks: square crops at two scales ------------------------------------------------
CROP_SCALES = (1.0, 2.0)   # each image is cut at its short side = S and = 2S, for crops at two scales
MAX_CROPS_PER_SCALE = 3


def square_crops(im: Image.Image, side: int) -> list[np.ndarray]:
    """uint8 (3, side, side) squares of `im` at two scales: short side scaled to side*f, then up to
    MAX_CROPS_PER_SCALE squares evenly spread along each axis."""
    im = im.convert("RGB")
    out = []
    for f in CROP_SCALES:
        scale = side * f / min(im.size)
        w, h = max(side, round(im.width * scale)), max(side, round(im.height * scale))
        big = im.resize((w, h), Image.Resampling.LANCZOS)
        nx = min(MAX_CROPS_PER_SCALE, max(1, round(w / side)))
        ny = min(MAX_CROPS_PER_SCALE, max(1, round(h / side)))
        for y in np.linspace(0, h - side, ny).round().astype(int):
            for x in np.linspace(0, w - side, nx).round().astype(int):
                out.append(np.asarray(big.crop((x, y, x + side, y + side))).transpose(2, 0, 1))
    return out


def gather_images(files: list[str | Path] | None, installed: list[str] | None, what: str
                  ) -> tuple[list[Image.Image], dict]:
    """The user's image files, or the named installed images (`studio.data.examples`), as RGB images with
    the data-set facts (name, source, count, licence); unusable files are skipped and counted."""
    from .examples import installed_image, installed_images

    if bool(files) == bool(installed):
        raise StudioError(f"give {what} images either as files or as names of installed images "
                          f"({', '.join(installed_images())}), not both and not neither")
    images, names, skipped = [], [], []
    if installed:
        licences, sources = set(), []
        for name in installed:
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
            images.append(open_image(path).convert("RGB"))
            names.append(path.name)
        except StudioError as exc:
            skipped.append(f"{path.name}: {exc}")
    if not images:
        raise StudioError(f"none of the {what} files is a usable image ({'; '.join(skipped[:3])})")
    return images, {"name": f"uploaded {what} images", "source": "uploaded: " + ", ".join(names[:5]),
                    "count": len(images), "skipped": len(skipped), "license": "unknown (the user's own images)"}
