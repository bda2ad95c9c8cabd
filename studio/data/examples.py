"""Content and style images that install with the studio's packages (no download), for examples and for
training style networks.

- scikit-image (bundled, offline): photos and textures; public domain or CC0 per each loader's docstring.
- scikit-learn: two sample photos (CC-BY-2.0).
- Debian `mypaint-data-extras`, when installed: 17 paper, canvas and watercolour backgrounds (CC0-1.0),
  under /usr/share/mypaint/backgrounds/.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

MYPAINT_BACKGROUNDS = Path("/usr/share/mypaint/backgrounds")


@dataclass(frozen=True)
class InstalledImage:
    name: str
    kind: str                       # "photo" or "texture"
    source: str
    license: str
    load: Callable[[], Image.Image]


def _skimage(name: str) -> Callable[[], Image.Image]:
    def load():
        import skimage.data
        array = getattr(skimage.data, name)()
        if name == "stereo_motorcycle":
            array = array[0]
        return Image.fromarray(np.asarray(array)).convert("RGB")
    return load


def _sklearn(file: str) -> Callable[[], Image.Image]:
    def load():
        from sklearn.datasets import load_sample_image
        return Image.fromarray(load_sample_image(file)).convert("RGB")
    return load


def _file(path: Path) -> Callable[[], Image.Image]:
    def load():
        with Image.open(path) as im:
            return im.convert("RGB")
    return load


SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "retina", "stereo_motorcycle")
SKIMAGE_TEXTURES = ("brick", "grass", "gravel")


def installed_images() -> dict[str, InstalledImage]:
    """Every installed image by name, photos first."""
    out: dict[str, InstalledImage] = {}
    for n in SKIMAGE_PHOTOS:
        out[n] = InstalledImage(n.replace("stereo_", ""), "photo", f"skimage.data.{n}", "public domain / CC0",
                                _skimage(n))
    for f in ("china.jpg", "flower.jpg"):
        out[f[:-4]] = InstalledImage(f[:-4], "photo", f"sklearn.datasets.load_sample_image({f!r})", "CC-BY-2.0",
                                     _sklearn(f))
    for n in SKIMAGE_TEXTURES:
        out[n] = InstalledImage(n, "texture", f"skimage.data.{n}", "public domain / CC0", _skimage(n))
    if MYPAINT_BACKGROUNDS.is_dir():
        for path in sorted(MYPAINT_BACKGROUNDS.rglob("*.png")):
            name = "mypaint-" + path.stem.lower().replace(" ", "-").replace("hr_", "")
            out[name] = InstalledImage(name, "texture", f"Debian mypaint-data-extras: {path}", "CC0-1.0", _file(path))
    return {v.name: v for v in out.values()}


def installed_image(name: str) -> InstalledImage:
    from ..core.errors import StudioError
    images = installed_images()
    if name not in images:
        raise StudioError(f"no installed image named {name!r}; choose one of {', '.join(images)}")
    return images[name]
