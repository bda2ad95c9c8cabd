"""Latent directions (GANSpace, Harkonen et al., 2020): the main ways a model's images vary, as directions in
its latent space, found by PCA and cached per model.

The latents of GAN and VAE models here are isotropic Gaussians, so PCA of the latents themselves finds
nothing. GANSpace's answer for such models: sample many z, decode them, take the principal components of
what the network makes (here the images themselves, the one layer every family shares), and carry each
component back into z space by linear regression of z on the PCA coordinates. Moving z along direction i
then changes the image mostly along image component i: lighter/darker, thicker/thinner, one shape to another.
Directions are unit vectors in z space, so an amount of 1 is one standard deviation of the latent prior.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..core.errors import StudioError
from ..families.base import LoadedModel
from .paths import decode_in_batches

SAMPLES = 1024       # decoded latents the PCA is taken over
COMPONENTS = 8       # directions kept
SEED_BASE = 1_000_000  # samples use seeds SEED_BASE.. so they are reproducible and apart from common seeds
FORMAT = 1


@dataclass
class Directions:
    vectors: torch.Tensor    # (K, *latent shape), unit norm, in the family's latent space
    explained: torch.Tensor  # (K,) fraction of the image variance each component explains
    samples: int


def compute(model: LoadedModel, settings: dict, samples: int = SAMPLES, components: int = COMPONENTS,
            progress=None) -> Directions:
    """PCA of `samples` decoded images, regressed back onto their latents (GANSpace). Deterministic."""
    family = model.family
    seeds = list(range(SEED_BASE, SEED_BASE + samples))
    z = family.latents(model, seeds).float()
    images = decode_in_batches(lambda b: family.decode(model, b, settings), z, 64, progress=progress)
    x = images.reshape(samples, -1).double()
    x = x - x.mean(dim=0, keepdim=True)
    k = min(components, samples - 1, x.shape[1])
    torch.manual_seed(0)  # pca_lowrank is randomised; fix it so a model always gets the same directions
    _, s, v = torch.pca_lowrank(x, q=min(k + 8, min(x.shape)), center=False, niter=4)
    coords = x @ v[:, :k]                                          # (n, K) PCA coordinates
    flat = z.reshape(samples, -1).double()
    basis = torch.linalg.lstsq(coords, flat).solution              # (K, D): z ~ coords @ basis
    vectors = basis / basis.norm(dim=1, keepdim=True).clamp_min(1e-12)
    total = x.pow(2).sum()
    explained = s[:k].pow(2) / total
    return Directions(vectors.float().reshape(k, *z.shape[1:]), explained.float(), samples)


def cache_path(home: Path, model: LoadedModel) -> Path:
    return Path(home) / "cache" / "directions" / f"{model.name}-{model.weights_hash or 'unhashed'}.safetensors"


def directions_for(model: LoadedModel, home: Path, progress=None) -> Directions:
    """The model's directions, computed once (at default settings) and then read from the cache on disk."""
    if model.family.name not in ("gan", "vae"):
        raise StudioError(f"latent directions are found for GAN and VAE models; {model.name!r} is a "
                          f"{model.family.title}")
    path = cache_path(home, model)
    if path.is_file():
        try:
            data = load_file(str(path))
            return Directions(data["vectors"], data["explained"], int(data["samples"].item()))
        except Exception:
            path.unlink(missing_ok=True)  # a damaged cache file is recomputed, never trusted
    found = compute(model, model.family.check_settings({}), progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file({"vectors": found.vectors.contiguous(), "explained": found.explained,
               "samples": torch.tensor([found.samples])}, str(tmp),
              metadata={"format": str(FORMAT), "model": model.name, "weights": model.weights_hash,
                        "method": json.dumps({"pca_over": "decoded images", "regressed_to": "latents"})})
    tmp.replace(path)  # atomic: two processes computing at once both leave a whole file
    return found


def move(latent: torch.Tensor, directions: Directions, amounts: list[float]) -> torch.Tensor:
    """latent (*shape) moved by amounts[i] along direction i (in prior standard deviations) -> (*shape)."""
    if len(amounts) > directions.vectors.shape[0]:
        raise StudioError(f"this model has {directions.vectors.shape[0]} directions; got {len(amounts)} amounts")
    out = latent.float().clone()
    for amount, vector in zip(amounts, directions.vectors):
        out = out + float(amount) * vector
    return out
