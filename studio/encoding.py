"""The artist's own images into a model's latent space, each family its own way.

- VAE: the encoder's mean (one forward pass);
- GAN: projection by optimisation (`studio.projection`), since a GAN has no encoder;
- diffusion: DDIM inversion (`studio.inversion`) to the initial noise that DDIM sampling redraws it from.

Every path returns the latents together with their reconstruction, decoded by the family exactly as the
animation will decode it, so the artist sees beside the original what the keyframe will really look like.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from .errors import StudioError
from .families.base import LoadedModel
from .perceptual import perceptual_distance


@dataclass
class Encoded:
    latents: torch.Tensor          # (N, *latent shape), as `family.latents` returns for seeds
    reconstructions: torch.Tensor  # (N, C, H, W) in [0, 1]: family.decode(latents, settings)
    distances: list[float]         # perceptual distance of each reconstruction to its image (0 = same)
    method: str                    # "encoder", "projection" or "ddim-inversion"
    stopped_early: bool = False


def encode_images(model: LoadedModel, images: torch.Tensor, settings: dict, projection_steps: int = 200,
                  seed: int = 0, progress: Callable[[float, str], None] | None = None,
                  cancelled: Callable[[], bool] | None = None) -> Encoded:
    """Images (N, C, H, W) in [0, 1], already at the model's size and channel count -> Encoded.

    `settings` are the family's checked sampling settings (the same the animation uses).
    `progress(fraction, description)` reports the slow paths (projection, inversion).
    """
    family = model.family
    stopped = False
    if family.name in ("vae", "gan"):
        # decode() multiplies latents by the temperature (VAE) or truncation (GAN); divide here so the
        # keyframe decodes to the image's own latent.
        scale_name = "temperature" if family.name == "vae" else "truncation"
        scale = float(settings.get(scale_name, 1.0))
        if scale <= 0:
            raise StudioError(f"{scale_name} 0 maps every latent to the same image; use a {scale_name} above 0 "
                              "to interpolate between your own images")
        if family.name == "vae":
            latents, method = family.encode(model, images) / scale, "encoder"
        else:
            from .projection import project

            def report(step, steps, loss):
                if progress is not None:
                    progress(step / steps, f"projecting your images into the GAN: step {step}/{steps}, "
                                           f"loss {loss:.3f}")

            result = project(model.module, images, steps=projection_steps, seed=seed, progress=report,
                             cancelled=cancelled)
            latents, method, stopped = result.latents / scale, "projection", result.stopped_early
    elif family.name == "diffusion":
        from .inversion import ddim_invert

        steps = int(settings["steps"])

        def report(step, total):
            if progress is not None:
                progress(step / total, f"DDIM inversion of your images: step {step}/{total}")

        try:
            latents = ddim_invert(model.module, model.extras["scheduler_config"], images, steps, progress=report,
                                  cancelled=cancelled)
        except InterruptedError:
            raise StudioError("cancelled") from None
        method = "ddim-inversion"
    else:
        raise StudioError(f"{family.title} models cannot take your own images as keyframes yet; use seeds")
    reconstructions = family.decode(model, latents, settings).float().cpu()
    with torch.no_grad():
        distances = perceptual_distance(reconstructions, images.float()).tolist()
    return Encoded(latents, reconstructions, [round(d, 4) for d in distances], method, stopped)
