"""The generate service for the VAE family (the GAN and diffusion tests check theirs): image i of a batch is
the image its seed gives alone, and another family's settings are refused with the list of its own."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from studio.core.errors import StudioError
from tests.support.files import save_tiny_vae


def test_vae_per_image_seeds_and_foreign_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("STUDIO_CHECKPOINTS", str(tmp_path / "none"))
    from studio.core.registry import default_registry
    from studio.services.generate import generate

    save_tiny_vae(default_registry(), "seed-vae")
    batch = generate("seed-vae", count=4, seed=20, out_dir=tmp_path / "batch", temperature=0.9)
    alone = generate("seed-vae", count=1, seed=22, out_dir=tmp_path / "alone", temperature=0.9)
    assert np.array_equal(np.asarray(Image.open(batch.files[2])), np.asarray(Image.open(alone.files[0])))
    for foreign in ({"truncation": 0.5}, {"sampler": "ddim"}, {"steps": 25}):
        with pytest.raises(StudioError, match=f"'{next(iter(foreign))}' is not a setting of variational "
                                              "autoencoder \\(VAE\\) models; they take: temperature"):
            generate("seed-vae", count=1, seed=0, out_dir=tmp_path / "x", **foreign)
