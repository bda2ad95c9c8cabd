"""Images in: the one safe decoder every upload goes through (training data, keyframes, style, masks).

A file's header is read first and its pixel count checked before anything is decoded, so a small file that
claims a huge image (a decompression bomb) costs nothing. JPEGs can be decoded straight at a reduced scale
(`working_side`), so a large photo never needs its full pixels in memory. EXIF orientation is applied, so
a phone photo is the right way up.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import StudioError

MAX_PIXELS = 80_000_000   # larger images are refused from their header, before decoding
MIN_SIDE = 8              # smaller images hold too little to use
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"}

# PIL warns at MAX_IMAGE_PIXELS and refuses at twice that; we refuse at MAX_PIXELS ourselves, first.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


def open_image(source: bytes | str | Path, *, working_side: int | None = None, min_side: int = MIN_SIDE,
               ) -> Image.Image:
    """Decode one image (bytes or a file path) safely, or raise StudioError saying why it cannot be used.

    Messages are plain reasons ("not an image file", "too small (4x4; ...)"); callers name the file.
    `working_side`: a JPEG is decoded at the smallest scale (1/2, 1/4, 1/8) still at least this large.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we refuse by size just below
            im = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
    except FileNotFoundError:
        raise StudioError("file not found") from None
    except UnidentifiedImageError:
        raise StudioError("not an image file") from None
    except Image.DecompressionBombError:
        raise StudioError(f"too large to decode safely (over {MAX_PIXELS // 1_000_000} megapixels)") from None
    except (OSError, ValueError) as exc:
        raise StudioError(f"unreadable ({exc})") from None
    w, h = im.size  # known from the header alone: nothing is decoded yet
    if w * h > MAX_PIXELS:
        raise StudioError(f"too large to decode safely ({w}x{h}; the limit is {MAX_PIXELS // 1_000_000} "
                          "megapixels): scale it down first")
    if min(w, h) < min_side:
        raise StudioError(f"too small ({w}x{h}; at least {min_side}x{min_side})")
    if working_side:
        im.draft("RGB", (working_side, working_side))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # size already checked above
            im.load()
        return ImageOps.exif_transpose(im)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise StudioError(f"broken image data ({exc})") from None
