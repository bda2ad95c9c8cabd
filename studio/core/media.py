"""Images out: tensors to PIL, sample grids, PNGs that carry their parameters, zips, GIFs and MP4s.

Every PNG the studio writes holds, in PNG text chunks:
- `parameters`: JSON with the model name and weight hash, family, seed and every sampling setting;
- `Software`: the studio and its version;
- `AI-generated` / `Description`: a plain statement that a generative model made the image, and the IPTC
  digital source type `trainedAlgorithmicMedia` used by content-credential tools.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import imageio.v2 as imageio_v2
import imageio.v3 as iio
import numpy as np
import torch
from PIL import Image, PngImagePlugin
from torchvision.utils import make_grid

from .. import __version__

IPTC_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def to_pil(image: torch.Tensor) -> Image.Image:
    """(C, H, W) float in [0, 1] with 1 or 3 channels -> PIL image (L or RGB)."""
    array = (image.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).cpu().numpy())
    if array.shape[0] == 1:
        return Image.fromarray(array[0], mode="L")
    return Image.fromarray(np.ascontiguousarray(array.transpose(1, 2, 0)), mode="RGB")


def grid(images: torch.Tensor, nrow: int | None = None, padding: int = 2) -> Image.Image:
    """A grid of (N, C, H, W) images in [0, 1], about square unless `nrow` says how many per row."""
    n = images.shape[0]
    nrow = nrow or max(1, int(np.ceil(np.sqrt(n))))
    return to_pil(make_grid(images.float().cpu(), nrow=nrow, padding=padding, pad_value=1.0))


def png_info(parameters: dict) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", json.dumps(parameters, sort_keys=True))
    info.add_text("Software", f"creative studio {__version__}")
    info.add_text("AI-generated", "true")
    info.add_text("DigitalSourceType", IPTC_SOURCE_TYPE)
    model = parameters.get("model", "a generative model")
    info.add_text("Description", f"AI-generated image, made by the creative studio with {model}")
    return info


def save_png(image: Image.Image, path: Path, parameters: dict) -> Path:
    """Save `image` as PNG at `path` with `parameters` and the AI-generated statement embedded."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG", pnginfo=png_info(parameters))
    return path


def read_png_parameters(path: str | Path) -> dict | None:
    """The `parameters` a studio PNG carries, or None if the file has none."""
    with Image.open(path) as im:
        text = getattr(im, "text", None) or im.info
        raw = text.get("parameters")
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def zip_files(paths: list[Path], target: Path) -> Path:
    """Store `paths` flat in a zip at `target` (PNGs are already compressed)."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as zf:
        for p in paths:
            zf.write(p, Path(p).name)
    return target


MACRO_BLOCK = 16  # H.264 codes video in 16x16 blocks: MP4 frame sides are multiples of this


def write_gif(frames: list[np.ndarray], path: Path, fps: int, comment: str) -> Path:
    """A looping animated GIF of uint8 (H, W, 3) frames; `comment` is stored in the file."""
    # GIF delays are whole 1/100 s; imageio/Pillow round the millisecond duration to them. loop=0: forever.
    iio.imwrite(path, np.stack(frames), extension=".gif", duration=1000.0 / fps, loop=0, comment=comment)
    return path


def write_mp4(frames: list[np.ndarray], path: Path, fps: int, comment: str) -> Path:
    """An H.264 MP4 (yuv420p) of uint8 (H, W, 3) frames, sides multiples of 16; `comment` in its metadata."""
    # libx264 + yuv420p is what browsers, phones and social sites play; imageio-ffmpeg ships ffmpeg itself.
    writer = imageio_v2.get_writer(path, format="FFMPEG", fps=fps, codec="libx264", quality=8,
                                   pixelformat="yuv420p", macro_block_size=MACRO_BLOCK,
                                   output_params=["-metadata", f"comment={comment}"], ffmpeg_log_level="error")
    try:
        for frame in frames:
            writer.append_data(frame)
    finally:
        writer.close()
    return path
