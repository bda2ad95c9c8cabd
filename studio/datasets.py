"""Training images in: uploads (images or zips), folders, built-in sets, made ready for a model.

Every source becomes one uint8 tensor (N, C, H, W) at the model's size, plus a report of which files were
used and which were skipped and why. The tensor is stored with the training job (`data.safetensors`), so a
job can be resumed after the uploads are gone.
"""
from __future__ import annotations

import io
import json
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .config import settings
from .errors import StudioError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"}
MAX_PIXELS = 40_000_000      # larger images are refused before decoding (decompression bombs)
MIN_SIDE = 8                 # smaller images hold too little to learn from
MAX_ZIP_MEMBERS = 100_000
MAX_ZIP_UNPACKED = 2 << 30   # 2 GiB unpacked per archive
MAX_MEMBER_BYTES = 64 << 20  # one image file inside an archive

# PIL's own guard warns at MAX_IMAGE_PIXELS and refuses at twice that; we check sizes ourselves first.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

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


def open_image(data: bytes | Path, name: str) -> Image.Image:
    """Decode one image safely; raise StudioError saying why it cannot be used."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we refuse by size just below
            im = Image.open(io.BytesIO(data) if isinstance(data, bytes) else data)
    except UnidentifiedImageError:
        raise StudioError("not an image file") from None
    except Image.DecompressionBombError:
        raise StudioError(f"too large to decode safely (over {2 * MAX_PIXELS // 1_000_000} megapixels)") from None
    except (OSError, ValueError) as exc:
        raise StudioError(f"unreadable ({exc})") from None
    w, h = im.size  # known from the header alone: nothing is decoded yet
    if w * h > MAX_PIXELS:
        raise StudioError(f"too large to decode safely ({w}x{h}; limit {MAX_PIXELS // 1_000_000} megapixels)")
    if min(w, h) < MIN_SIDE:
        raise StudioError(f"too small ({w}x{h}; at least {MIN_SIDE}x{MIN_SIDE})")
    try:
        im.load()
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise StudioError(f"broken image data ({exc})") from None
    return im


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


def zip_members(path: Path, suffixes: set[str], wrong_type: str, max_bytes: int = MAX_MEMBER_BYTES
                ) -> Iterator[tuple[str, bytes | None, str]]:
    """Yield (name, bytes or None, why skipped) for each file in a zip whose name ends in one of `suffixes`,
    in name order, refusing bombs: too many members, more than MAX_ZIP_UNPACKED in all, or a member over
    `max_bytes` (counted while reading, since a zip's stated sizes can lie). Operating-system clutter
    (dot files, __MACOSX) is passed over silently; other file types are reported with `wrong_type`."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise StudioError(f"{path.name} is not a valid zip archive") from None
    with zf:
        infos = sorted((i for i in zf.infolist() if not i.is_dir()), key=lambda i: i.filename)
        if len(infos) > MAX_ZIP_MEMBERS:
            raise StudioError(f"{path.name} holds {len(infos)} files; the limit is {MAX_ZIP_MEMBERS}")
        total = 0
        for info in infos:
            name = f"{path.name}/{info.filename}"
            base = Path(info.filename).name
            if base.startswith(".") or "__MACOSX" in info.filename:
                continue
            if Path(base).suffix.lower() not in suffixes:
                yield name, None, wrong_type
                continue
            if info.file_size > max_bytes:
                yield name, None, f"larger than {max_bytes >> 20} MB"
                continue
            total += info.file_size
            if total > MAX_ZIP_UNPACKED:
                raise StudioError(f"{path.name} unpacks to more than {MAX_ZIP_UNPACKED >> 30} GB; refused")
            with zf.open(info) as f:
                data = f.read(max_bytes + 1)
            if len(data) > max_bytes:
                yield name, None, "unpacks to more than its stated size"
                continue
            yield name, data, ""


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


def check_data_folder(folder: str) -> Path:
    """A folder the server may read training images from: it must lie under STUDIO_DATA_ROOTS."""
    roots = settings().data_roots
    if not roots:
        raise StudioError("reading a folder on the server is off; set STUDIO_DATA_ROOTS to allow folders under it")
    path = Path(folder).expanduser().resolve()
    if not any(path == r or r in path.parents for r in roots):
        raise StudioError(f"{folder} is not under an allowed data folder ({', '.join(map(str, roots))})")
    if not path.is_dir():
        raise StudioError(f"{folder} is not a folder")
    return path


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
            im = open_image(data, name)
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

    root = settings().home / "datasets" / "torchvision"
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
