"""The originality check: is an image new, or a near copy of one its model was trained on? The function behind
`/originality`, the Gallery tab's check, and the memorisation figure on model cards.

An image is compared with every training image of an image model (found by `services.training_data`) at the
model's size and channels, in two spaces:
- perceptually: EfficientNet-Lite0 activations at 64 px, LPIPS-style
  (`studio.vision.perceptual.perceptual_embedding`);
- in pixels: the root-mean-square difference of pixel values in [0, 1].

What counts as "near" is calibrated on the model's own training set: up to 1,000 of its real images are each
held out in turn and compared with all the others, which is how far a genuinely new image of the same kind
lands from the training set. The image is a *near copy* when it is closer to a training image, in either
space, than all but 1% of those held-out real images are (`QUANTILE`). A training image itself scores 0.
A model trained with random flips saw each image mirrored too, so the mirror images count as training images.

Embeddings of a training set are computed once and cached under `STUDIO_HOME/cache/originality/`, keyed by a
hash of the images, so later checks take a fraction of a second.
"""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from ..core.environment import environment
from ..core.errors import StudioError
from ..core.images import open_image
from ..core.media import to_pil
from ..core.outputs import new_output_dir
from ..data.images import to_model_image
from ..vision.perceptual import EMBEDDING_GRID, perceptual_embedding
from .gallery import gallery_item
from .models import model_record
from .training_data import training_images

QUANTILE = 0.01        # a near copy is closer than all but this share of held-out real images
HELD_OUT = 1000        # at most this many training images are held out in turn for the calibration
NEAREST = 4            # nearest training images shown
SHOW_SIDE = 128        # they are written at least this large (nearest-neighbour upscaling)
# Images are compared at 64 px: what makes a copy (layout, strokes, colours) shows at that size, and the
# features cost less than half of what 96 px costs (measured on the digits: the same separation between
# training images and samples as at 96 px).
EMBED_SIZE = 64
_VERSION = f"efficientnet-lite0/{EMBED_SIZE}px/grid{EMBEDDING_GRID}/v1"  # part of the cache key


@dataclass
class Reference:
    """A model's training images with their embeddings and the calibrated thresholds."""
    images: torch.Tensor          # uint8 (M, C, S, S): the N training images, then their mirror images when
    embeddings: torch.Tensor      # float (M, D)       the model trained with random flips (M = 2N)
    count: int                    # N, the training images themselves
    threshold: float              # perceptual distance below which an image is a near copy
    pixel_threshold: float        # the same in pixels (RMS difference in [0, 1])
    held_out: int                 # how many real images the thresholds were calibrated on
    source: str                   # where the training images were found


_references: dict[tuple, Reference] = {}
_lock = threading.Lock()


def _pixels(images: torch.Tensor) -> torch.Tensor:
    """(N, C, S, S) uint8 or [0, 1] floats -> (N, C*S*S) floats scaled so that Euclidean distance is the RMS
    pixel difference."""
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    flat = x.flatten(1)
    return flat / flat.shape[1] ** 0.5


def _nearest(queries: torch.Tensor, bank: torch.Tensor, k: int = 1, exclude_self: bool = False,
             offset: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Distances and indices (Q, k) of each query's k nearest rows of `bank`, in chunks (bounded memory).
    `exclude_self`: query i is bank row offset + i and must not count as its own neighbour."""
    dists, idx = [], []
    for start in range(0, queries.shape[0], 256):
        d = torch.cdist(queries[start:start + 256].double(), bank.double())
        if exclude_self:
            rows = torch.arange(d.shape[0])
            d[rows, rows + offset + start] = float("inf")
        values, where = d.topk(min(k, bank.shape[0]), dim=1, largest=False)
        dists.append(values.float())
        idx.append(where)
    return torch.cat(dists), torch.cat(idx)


def _embeddings(images: torch.Tensor) -> torch.Tensor:
    """Perceptual embeddings of uint8 training images, cached on disk by a hash of the pixels."""
    digest = hashlib.sha256(_VERSION.encode() + images.contiguous().numpy().tobytes()).hexdigest()[:24]
    cache = environment().home / "cache" / "originality" / f"{digest}.safetensors"
    if cache.is_file():
        try:
            return load_file(str(cache))["embeddings"].float()
        except Exception:  # a truncated cache file is recomputed, never trusted
            cache.unlink(missing_ok=True)
    with torch.no_grad():
        embeddings = perceptual_embedding(images.float() / 255.0, size=EMBED_SIZE)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    save_file({"embeddings": embeddings.half().contiguous()}, str(tmp))  # half precision: storage only
    tmp.replace(cache)
    return embeddings.half().float()  # exactly what a later run reads back


def calibrate(images: torch.Tensor, embeddings: torch.Tensor, seed: int = 0) -> tuple[float, float, int]:
    """(perceptual threshold, pixel threshold, how many held out): the QUANTILE of the nearest distances from
    held-out training images (each compared with all the others) to the rest."""
    n = images.shape[0]
    if n < 2:
        raise StudioError("the model's training set has fewer than 2 images; there is nothing to calibrate on")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:HELD_OUT]
    # Put the held-out images first so "exclude self" is a diagonal.
    rest = torch.ones(n, dtype=torch.bool)
    rest[order] = False
    perm = torch.cat([order, torch.arange(n)[rest]])
    emb, pix = embeddings[perm], _pixels(images[perm])
    held = order.shape[0]
    d_emb, _ = _nearest(emb[:held], emb, exclude_self=True)
    d_pix, _ = _nearest(pix[:held], pix, exclude_self=True)
    q = torch.tensor(QUANTILE, dtype=torch.float64)
    return (float(torch.quantile(d_emb[:, 0].double(), q)), float(torch.quantile(d_pix[:, 0].double(), q)), held)


def reference(model: str) -> Reference:
    """The model's training images, embeddings and thresholds (kept in memory per model and data)."""
    record = model_record(model)
    images, source = training_images(model)
    key = (record.name, str(record.path), tuple(images.shape),
           hashlib.sha256(images.contiguous().numpy().tobytes()).hexdigest())
    with _lock:
        if key not in _references:
            embeddings = _embeddings(images)
            threshold, pixel_threshold, held = calibrate(images, embeddings)
            bank, bank_embeddings = images, embeddings
            if (record.meta.get("recipe") or {}).get("flip"):
                # It saw every image mirrored too: a mirrored copy is a copy. (Calibration stays on the images
                # themselves: a symmetric picture's mirror is itself, which would make the threshold 0.)
                mirrored = images.flip(-1)
                bank = torch.cat([images, mirrored])
                bank_embeddings = torch.cat([embeddings, _embeddings(mirrored)])
            _references[key] = Reference(bank, bank_embeddings, images.shape[0], threshold, pixel_threshold, held,
                                         source)
            while len(_references) > 4:
                _references.pop(next(iter(_references)))
        return _references[key]


def _model_image(path, size: int, channels: int) -> torch.Tensor:
    try:
        im = open_image(path)
    except StudioError as exc:
        raise StudioError(f"image: {exc}; give a PNG, JPEG or WebP image") from None
    return torch.from_numpy(to_model_image(im, size, channels).copy()).float().div(255.0)[None]


def check_images(model: str, images: torch.Tensor) -> list[dict]:
    """For images (N, C, S, S) in [0, 1] at the model's size: each one's nearest training images and the
    verdict. Plain values only: distances, thresholds, indices of training images."""
    ref = reference(model)
    emb = perceptual_embedding(images.float(), size=EMBED_SIZE)
    d_emb, i_emb = _nearest(emb, ref.embeddings, k=NEAREST)
    d_pix, i_pix = _nearest(_pixels(images), _pixels(ref.images), k=1)
    results = []
    for j in range(images.shape[0]):
        perceptual, pixel = float(d_emb[j, 0]), float(d_pix[j, 0])
        near = perceptual < ref.threshold or pixel < ref.pixel_threshold
        results.append({
            "nearest_distance": round(perceptual, 5), "threshold": round(ref.threshold, 5),
            "pixel_distance": round(pixel, 5), "pixel_threshold": round(ref.pixel_threshold, 5),
            "near_copy": bool(near),
            "nearest": [{"index": int(i) % ref.count, "mirrored": int(i) >= ref.count,
                         "perceptual_distance": round(float(d), 5)} for d, i in zip(d_emb[j], i_emb[j])],
            "nearest_in_pixels": {"index": int(i_pix[j, 0]) % ref.count, "mirrored": int(i_pix[j, 0]) >= ref.count,
                                  "pixel_distance": round(pixel, 5)},
        })
    return results


def originality(model: str | None = None, image=None, item: str | None = None,
                out_dir: Path | None = None) -> tuple[dict, list[Path]]:
    """Check one image (a file) or one gallery item against an image model's training images.

    With `item` and no `model`, the item's own model is used. Returns the report (nearest_distance,
    threshold, near_copy, pixel_distance, the nearest training images by index and distance, where the
    training images came from, how the verdict was calibrated) and PNGs of the nearest training images."""
    if bool(image) == bool(item):
        raise StudioError("give either an image or a gallery item to check, not both and not neither")
    if item:
        record = gallery_item(item)
        if record["kind"] not in ("generate", "style"):
            raise StudioError(f"gallery item {record['id']} is a {record['kind']} item; the originality check "
                              "takes single images (Generate or Style items)")
        if record["kind"] == "style" and not model:
            raise StudioError(f"gallery item {record['id']} was made by style transfer, not by an image model: "
                              "give the image model whose training images to compare with")
        model = model or record["model"]
        image = next((p for p in record["files"] if p.lower().endswith(".png")), None)
        if image is None:
            raise StudioError(f"gallery item {record['id']} has no PNG image")
    if not model:
        raise StudioError("choose an image model to compare with")
    meta = model_record(model).meta
    if meta.get("kind", "image") != "image":
        raise StudioError(f"{model!r} is not an image model; the originality check compares with an image "
                          "model's training images")
    shapes = meta.get("shapes", {})
    size, channels = int(shapes.get("image_size", 32)), int(shapes.get("channels", 3))
    query = _model_image(image, size, channels)
    result = check_images(model, query)[0]
    ref = reference(model)
    out = Path(out_dir) if out_dir else new_output_dir("originality")
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for rank, near in enumerate(result["nearest"]):
        pil = to_pil(ref.images[near["index"] + (ref.count if near["mirrored"] else 0)].float() / 255.0)
        scale = max(1, -(-SHOW_SIDE // pil.width))
        pil = pil.resize((pil.width * scale, pil.height * scale), Image.Resampling.NEAREST)
        mirrored = "-mirrored" if near["mirrored"] else ""
        paths.append(out / f"nearest{rank + 1}-training-image{near['index']}{mirrored}.png")
        pil.save(paths[-1])
    result.update(model=model, item=item or None, training_images=ref.count,
                  training_source=ref.source, calibration=(
                      f"near copy: closer to a training image than {1 - QUANTILE:.0%} of {ref.held_out} real "
                      "training images, each held out in turn, are to the rest (perceptual distance on "
                      "EfficientNet-Lite0 features, or RMS pixel difference)"))
    return result, paths


def memorisation(model: str, samples: int = 256, **settings) -> dict:
    """The share of `samples` images (seeds 0..samples-1, the model's default settings unless given) that
    are near copies of training images: the figure model cards carry."""
    from .generate import sample_images

    images, params = sample_images(model, list(range(samples)), settings)
    results = check_images(model, images)
    copies = [i for i, r in enumerate(results) if r["near_copy"]]
    ref = reference(model)
    return {"memorisation": round(len(copies) / samples, 4), "memorisation_samples": samples,
            "memorisation_near_copies": len(copies), "memorisation_threshold": round(ref.threshold, 5),
            "memorisation_pixel_threshold": round(ref.pixel_threshold, 5),
            "memorisation_median_distance": round(float(np.median([r["nearest_distance"] for r in results])), 5),
            "memorisation_seeds": copies[:20]}
