"""Latent-space animations: the function behind the Interpolate tab, `/interpolate` and the CLI.

Keyframes are seeds (their latents, exactly as `/generate` draws them) and the artist's own images
(carried into the latent space by their family's `encode`: VAE encoding, GAN projection, DDIM inversion).
The path between them (`studio.latent.paths`) is decoded in batches and
written as PNG frames (parameters embedded), a zip of them, a contact-sheet strip, a looping GIF and an
H.264 MP4, plus a JSON sidecar with every parameter (also embedded in the GIF comment and MP4 metadata).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from .. import __version__
from ..core.errors import StudioError, check_number
from ..core.images import open_image
from ..core.media import (
    MACRO_BLOCK,
    grid,
    save_png,
    to_pil,
    write_gif,
    write_mp4,
    zip_files,
)
from ..core.outputs import new_output_dir
from ..core.seeds import parse_seeds
from ..data.images import to_model_image
from ..families.base import LoadedModel
from ..latent.paths import (
    EASINGS,
    METHODS,
    decode_in_batches,
    frame_count,
    keyframe_path,
    random_walk,
)
from ..vision.perceptual import perceptual_distance
from .gallery import save_to_gallery
from .models import load_image_model
from .zerogpu import on_gpu

MAX_KEYFRAMES = 16
MAX_FRAMES = 240          # per segment
MAX_TOTAL_FRAMES = 960    # in one animation: 80 s at 12 fps
MAX_FPS = 50              # GIF frame delays are in 1/100 s and browsers slow anything under 2/100 s
MIN_SIZE, MAX_SIZE = 16, 1024
DEFAULT_SIZE = 256        # default output side: the model's size scaled up to at least this, for posting
RESAMPLING = {"nearest": Image.Resampling.NEAREST, "lanczos": Image.Resampling.LANCZOS}
SHEET_FRAMES = 12         # frames shown on the contact sheet
SHEET_SIDE = 96           # px per frame on the contact sheet
BATCH = 16                # frames decoded at once
Progress = Callable[[float, str], None]


@dataclass
class Interpolation:
    frames: list[Path]        # PNG per frame at the output size, parameters embedded
    gif: Path                 # looping animated GIF
    mp4: Path                 # H.264 MP4 (yuv420p, plays in browsers and on social sites)
    sheet: Path               # contact-sheet strip PNG
    zip: Path                 # all frame PNGs
    sidecar: Path             # the parameters as JSON
    parameters: dict
    reconstructions: list[tuple[Path, Path]] = field(default_factory=list)  # (your image, reconstruction)
    notes: list[str] = field(default_factory=list)  # what was done to the input (converted, resized)
    gallery_id: str | None = None  # the animation's item in the gallery (sheet, GIF, MP4, parameters)


def output_size(size, image_size: int) -> int:
    """The side of the output frames: `size` checked, or the model's size scaled up to >= DEFAULT_SIZE."""
    if size is None or size == 0:
        return image_size * max(1, -(-DEFAULT_SIZE // image_size))
    size = check_number("size", size, MIN_SIZE, MAX_SIZE, whole=True)
    if size % MACRO_BLOCK:
        raise StudioError(f"size must be a multiple of {MACRO_BLOCK} (H.264 video is coded in 16x16 blocks); "
                          f"got {size}, try {max(MIN_SIZE, round(size / MACRO_BLOCK) * MACRO_BLOCK)}")
    return size


def load_keyframe_images(paths: list, image_size: int, channels: int) -> tuple[torch.Tensor, list[str], list[str]]:
    """Open the artist's images and bring them to the model's size and channels.

    Returns (images (N, C, S, S) in [0, 1], names, notes saying what was changed). Files that are not
    images raise StudioError naming the file.
    """
    arrays, names, notes = [], [], []
    for raw in paths:
        path = Path(raw if isinstance(raw, (str, Path)) else getattr(raw, "name", raw))
        try:
            im = open_image(path)
        except StudioError as exc:
            raise StudioError(f"keyframe image {path.name}: {exc}; use PNG, JPEG or WebP images") from None
        mode = "grey" if channels == 1 else "colour"
        changed = []
        if im.size != (image_size, image_size):
            changed.append(f"{im.size[0]}x{im.size[1]} cropped to the centre square and resized to "
                           f"{image_size}x{image_size}")
        if (im.mode in ("L", "LA", "1", "I", "I;16", "F")) != (channels == 1):
            changed.append(f"{im.mode} converted to {mode}")
        if "A" in im.mode or "transparency" in im.info:
            changed.append("transparency flattened on white")
        if changed:
            notes.append(f"{path.name}: " + ", ".join(changed) + " (the model makes "
                         f"{image_size}x{image_size} {mode} images)")
        arrays.append(to_model_image(im, image_size, channels))
        names.append(path.name)
    images = torch.from_numpy(np.stack(arrays)).float() / 255.0
    return images, names, notes


def _diffusion_settings(given: dict) -> dict:
    """Interpolation samples diffusion models with DDIM, eta 0: the only deterministic sampler, so that
    neighbouring noises give neighbouring images. Anything else is refused rather than ignored."""
    sampler, eta = given.get("sampler"), given.get("eta")
    if sampler not in (None, "ddim"):
        raise StudioError(f"interpolation samples diffusion models with DDIM (deterministic), so that the "
                          f"animation is smooth; sampler must be 'ddim', not {sampler!r}")
    if eta not in (None, 0, 0.0):
        raise StudioError(f"interpolation needs deterministic DDIM sampling: eta must be 0, not {eta!r}")
    return {**given, "sampler": "ddim", "eta": 0.0}


def _upscale(image: torch.Tensor, side: int, resample: str) -> Image.Image:
    pil = to_pil(image)
    if pil.size != (side, side):
        pil = pil.resize((side, side), RESAMPLING[resample])
    return pil


@dataclass
class Encoded:
    """The artist's images in a model's latent space, with what the model makes of them."""
    latents: torch.Tensor          # (N, *latent shape), as `family.latents` returns for seeds
    reconstructions: torch.Tensor  # (N, C, H, W) in [0, 1]: family.decode(latents, settings)
    distances: list[float]         # perceptual distance of each reconstruction to its image (0 = same)
    method: str                    # "encoder", "projection" or "ddim-inversion"
    stopped_early: bool = False


def encode_keyframes(model: LoadedModel, images: torch.Tensor, settings: dict, projection_steps: int = 200,
                     seed: int = 0, progress: Progress | None = None,
                     cancelled: Callable[[], bool] | None = None) -> Encoded:
    """Images (N, C, H, W) in [0, 1], at the model's size and channels -> their latents (the family's
    `encode`) with their reconstructions, decoded exactly as the animation will decode them, so the artist
    sees beside the original what the keyframe will really look like."""
    found = model.family.encode(model, images, settings, steps=projection_steps, seed=seed, progress=progress,
                                cancelled=cancelled)
    reconstructions = model.family.decode(model, found.latents, settings).float().cpu()
    with torch.no_grad():
        distances = perceptual_distance(reconstructions, images.float()).tolist()
    return Encoded(found.latents, reconstructions, [round(d, 4) for d in distances], found.method,
                   found.stopped_early)


@on_gpu  # ZeroGPU Spaces lend the GPU per call (services/zerogpu.py)
def interpolate(model: str, seeds: str | list[int] | None = "11, 42", images: list | None = None,
                frames: int = 16, method: str = "slerp", easing: str = "linear", loop: bool = False,
                fps: int = 12, size: int | None = None, resample: str = "nearest", walk_frames: int = 0,
                projection_steps: int = 200, out_dir: Path | None = None, progress: Progress | None = None,
                cancelled: Callable[[], bool] | None = None, gallery: bool = True, **settings) -> Interpolation:
    """Animate a walk through `model`'s latent space; write frames, GIF, MP4, contact sheet and parameters.

    Keyframes: `seeds` ("11, 42, 7", or "random" for two random seeds) followed by `images` (paths of the
    artist's pictures, encoded into the latent space). `frames` frames per segment; with `loop` the path
    returns to the first keyframe. `walk_frames` > 0 instead makes a smooth random loop of that many frames
    from the first seed. `size`: output side in px (multiple of 16; default the model's size scaled up to
    >= 256), upscaled with `resample` ("nearest" keeps pixels crisp, "lanczos" smooths). `settings`: the
    family's sampling settings (diffusion models always use DDIM with eta 0 here).
    """
    report = progress or (lambda fraction, text: None)
    if method not in METHODS:
        raise StudioError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    if easing not in EASINGS:
        raise StudioError(f"easing must be one of {', '.join(EASINGS)}; got {easing!r}")
    if resample not in RESAMPLING:
        raise StudioError(f"resample must be one of {', '.join(RESAMPLING)}; got {resample!r}")
    frames = check_number("frames", frames, 1, MAX_FRAMES, whole=True, unit=" per segment")
    fps = check_number("fps", fps, 1, MAX_FPS, whole=True, unit=" frames per second")
    walk_frames = check_number("walk_frames", walk_frames or 0, 0, MAX_TOTAL_FRAMES, whole=True)
    projection_steps = check_number("projection_steps", projection_steps, 1, 5000, whole=True)
    seed_list = parse_seeds(seeds)
    image_paths = [p for p in (images or []) if p]
    keyframes = len(seed_list) + len(image_paths)
    if keyframes > MAX_KEYFRAMES:
        raise StudioError(f"at most {MAX_KEYFRAMES} keyframes; got {keyframes}")
    if walk_frames:
        if walk_frames < 2:
            raise StudioError("a random walk needs at least 2 frames")
        if not seed_list:
            raise StudioError("a random walk starts from a seed: give one in seeds (or 'random')")
        if image_paths:
            raise StudioError("a random walk starts from a seed, not from images: remove the images, or set "
                              "walk_frames to 0 to interpolate between them")
        total = walk_frames
    else:
        if keyframes < 2:
            raise StudioError(f"give at least two keyframes (seeds such as '11, 42', or images) to interpolate "
                              f"between; got {keyframes}. For one seed, set walk_frames for a random walk")
        total = frame_count(keyframes, frames, bool(loop))
        if total > MAX_TOTAL_FRAMES:
            raise StudioError(f"that makes {total} frames; the limit is {MAX_TOTAL_FRAMES}: use fewer frames per "
                              f"segment or fewer keyframes")

    record, loaded = load_image_model(model)
    family = loaded.family
    if family.name in ("diffusion", "diffusion-lora"):
        settings = _diffusion_settings(settings)
    checked = family.check_settings(settings)
    shapes = record.meta.get("shapes", {})
    image_size, channels = int(shapes.get("image_size", 32)), int(shapes.get("channels", 3))
    side = output_size(size, image_size)
    out = Path(out_dir) if out_dir else new_output_dir("interpolate")
    out.mkdir(parents=True, exist_ok=True)

    # -- keyframe latents ------------------------------------------------------------------------
    notes, reconstructions, sources = [], [], [{"seed": s} for s in seed_list]
    parts = []
    if seed_list:
        parts.append(family.latents(loaded, seed_list).float())
    if image_paths:
        pictures, names, notes = load_keyframe_images(image_paths, image_size, channels)
        encoded = encode_keyframes(loaded, pictures, checked, projection_steps=projection_steps,
                                progress=lambda f, text: report(0.5 * f, text), cancelled=cancelled)
        parts.append(encoded.latents.float())
        if encoded.stopped_early:
            notes.append("projection was stopped early; the reconstructions show how far it got")
        for i, (name, picture, rebuilt, distance) in enumerate(zip(names, pictures, encoded.reconstructions,
                                                                    encoded.distances)):
            stem = f"keyframe{len(seed_list) + i}"
            original = out / f"{stem}-original.png"
            _upscale(picture, side, resample).save(original)
            rebuilt_path = save_png(_upscale(rebuilt, side, resample), out / f"{stem}-reconstruction.png",
                                    {"model": record.name, "keyframe": name, "encoding": encoded.method,
                                     "perceptual_distance": distance})
            reconstructions.append((original, rebuilt_path))
            sources.append({"image": name, "encoding": encoded.method, "perceptual_distance": distance})
    keys = torch.cat(parts)

    # -- the path and its frames -----------------------------------------------------------------
    if walk_frames:
        latents = random_walk(lambda s: family.latents(loaded, s), seed_list[0], walk_frames)
        positions = [i / walk_frames for i in range(walk_frames)]
    else:
        latents, positions = keyframe_path(keys, frames, method, easing, bool(loop))
    done_before = 0.5 if image_paths else 0.0
    n_frames, decoded = int(latents.shape[0]), [0]

    def decode_batch(z: torch.Tensor) -> torch.Tensor:
        # Iterative decoders (diffusion) report each denoising step of the batch, so progress moves within it.
        def step(done: int, total: int) -> None:
            frames_done = decoded[0] + z.shape[0] * done / total
            report(done_before + (0.9 - done_before) * frames_done / n_frames,
                   f"frames {decoded[0] + 1}-{decoded[0] + z.shape[0]} of {n_frames}: step {done}/{total}")

        out = family.decode(loaded, z, checked, progress=step, cancelled=cancelled)
        decoded[0] += z.shape[0]
        return out

    images = decode_in_batches(
        decode_batch, latents, BATCH,
        progress=lambda done, n: report(done_before + (0.9 - done_before) * done / n, f"frame {done}/{n}"),
        cancelled=cancelled)
    if not walk_frames:
        # A frame on a seed keyframe is decoded again on its own, as /generate decodes one image: CPU kernels
        # choose their algorithm by batch size, and a diffusion model's 25 UNet passes can carry that
        # last-bit difference into a pixel level, so only the same batch size gives the same PNG.
        for i, position in enumerate(positions):
            if float(position).is_integer() and int(position) < len(seed_list):
                images[i] = family.decode(loaded, latents[i:i + 1], checked, cancelled=cancelled)[0].float().cpu()

    params = {"model": record.name, "weights": loaded.weights_hash, "family": family.name, **checked,
              "keyframes": sources, "frames_per_segment": None if walk_frames else frames,
              "method": method, "easing": easing, "loop": bool(loop) or bool(walk_frames),
              "walk_frames": walk_frames, "total_frames": int(images.shape[0]), "fps": fps, "size": side,
              "resample": resample, "studio_version": __version__}
    if any("image" in s for s in sources) and family.name == "gan":
        params["projection_steps"] = projection_steps

    report(0.9, "writing PNG frames, GIF and MP4")
    name = f"{record.name}-interpolation"
    frame_paths, pixels = [], []
    for i, (image, position) in enumerate(zip(images, positions)):
        pil = _upscale(image, side, resample)
        frame_paths.append(save_png(pil, out / f"{name}-{i:04d}.png",
                                    {**params, "frame": i, "position": round(position, 6)}))
        pixels.append(np.asarray(pil.convert("RGB")))
    picks = np.unique(np.linspace(0, len(images) - 1, min(SHEET_FRAMES, len(images))).round().astype(int))
    thumbs = torch.nn.functional.interpolate(images[picks], size=(SHEET_SIDE, SHEET_SIDE), mode="nearest"
                                             if resample == "nearest" else "bicubic", antialias=resample != "nearest")
    sheet = save_png(grid(thumbs.clamp(0, 1), nrow=len(picks)), out / f"{name}-sheet.png",
                     {**params, "sheet_frames": picks.tolist()})
    comment = json.dumps(params, sort_keys=True)
    gif = write_gif(pixels, out / f"{name}.gif", fps, comment)
    mp4 = write_mp4(pixels, out / f"{name}.mp4", fps, comment)
    sidecar = out / f"{name}.json"
    sidecar.write_text(json.dumps({**params, "notes": notes}, indent=2), encoding="utf-8")
    archive = zip_files(frame_paths, out / f"{name}-frames.zip")
    # The gallery keeps the animation (GIF, MP4), its contact sheet and parameters; the frames are in the zip.
    item = save_to_gallery("interpolate", [gif, mp4, sidecar], params, model=record.name, preview=sheet,
                           seed=seed_list[0] if seed_list else None) if gallery else None
    report(1.0, "done")
    return Interpolation(frame_paths, gif, mp4, sheet, archive, sidecar, params, reconstructions, notes, item)
