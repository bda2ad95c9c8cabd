"""The GAN family: a real (tiny) training run through the shared loop on the digits set, then the sampling
contract other features build on (EMA generator, latents per seed, truncation, settings validation)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from studio.core.errors import StudioError
from studio.core.seeds import generator
from studio.families import get_family
from studio.families.gan import Generator, diff_augment, use_diffaugment
from studio.services.models import load_model
from tests.support.training import train_in_process

TINY = {"latent_dim": 16, "width": 16, "d_width": 8}


@pytest.fixture(scope="module")
def trained(module_home):
    folder = train_in_process("gan", "tiny-gan", steps=6, recipe={"batch_size": 16, "sample_every": 3},
                              config=TINY)
    return folder


def _loaded():
    return load_model("tiny-gan", torch.device("cpu"))


def test_training_saves_the_ema_generator(trained):
    loaded = _loaded()
    assert isinstance(loaded.module, Generator) and loaded.module.latent_dim == 16
    # The registry holds the EMA generator: the checkpoint's EMA weights, not the live generator's.
    ema = load_file(str(trained / "checkpoint" / "ema_generator.safetensors"))
    live = load_file(str(trained / "checkpoint" / "generator.safetensors"))
    saved = load_file(str(Path(os.environ["STUDIO_HOME"]) / "models" / "tiny-gan" / "model.safetensors"))
    key = "project.0.weight"
    assert torch.equal(saved[key], ema["module." + key])  # torch's AveragedModel holds the EMA copy
    assert not torch.equal(ema["module." + key], live[key])
    assert int(ema["n_averaged"]) == 6  # one update per step, restored on resume
    # The folder loads without the studio: config.json + the network's own file (PyTorchModelHubMixin).
    folder = Path(os.environ["STUDIO_HOME"]) / "models" / "tiny-gan"
    assert (folder / "dcgan.py").is_file() and '"latent_dim": 16' in (folder / "config.json").read_text()
    assert (trained / "sample.png").is_file()
    assert loaded.meta["recipe"]["diffaugment"] == "auto" and loaded.meta["dataset"]["count"] == 1797


def test_sampling_contract(trained):
    loaded = _loaded()
    fam = get_family("gan")
    z = fam.latents(loaded, [3, 7])
    assert z.shape == (2, 16) and z.device.type == "cpu"
    assert torch.equal(z[1], torch.randn(16, generator=generator(7)))
    raw = loaded.module(z)
    assert raw.shape == (2, 1, 32, 32) and raw.min() >= -1 and raw.max() <= 1
    images = fam.decode(loaded, z, fam.check_settings({}))
    assert torch.allclose(images, (raw + 1) / 2, atol=1e-6)


def test_truncation_pulls_every_seed_to_the_mean_image(trained):
    loaded = _loaded()
    fam = get_family("gan")
    z = fam.latents(loaded, [1, 2, 3])
    at_zero = fam.decode(loaded, z, fam.check_settings({"truncation": 0}))
    assert torch.equal(at_zero[0], at_zero[2])
    full = fam.decode(loaded, z, fam.check_settings({"truncation": 1}))
    assert not torch.equal(full[0], full[2])
    with pytest.raises(StudioError, match="truncation must be between 0.0 and 2.0"):
        fam.check_settings({"truncation": 3})


def test_generate_service_per_image_seeds_match_single_generation(trained, tmp_path):
    import numpy as np
    from PIL import Image

    from studio.services.generate import generate

    batch = generate("tiny-gan", count=5, seed=40, out_dir=tmp_path / "batch", truncation=0.8)
    assert batch.seeds == [40, 41, 42, 43, 44]
    alone = generate("tiny-gan", count=1, seed=43, out_dir=tmp_path / "alone", truncation=0.8)
    assert np.array_equal(np.asarray(Image.open(batch.files[3])), np.asarray(Image.open(alone.files[0])))
    assert batch.parameters["truncation"] == 0.8 and batch.parameters["family"] == "gan"


def test_other_families_settings_are_refused_clearly(trained):
    from studio.services.generate import sample_images
    with pytest.raises(StudioError, match=r"'steps' is not a setting of generative adversarial network \(GAN\) "
                                          r"models; they take: truncation"):
        sample_images("tiny-gan", [0], {"steps": 25})
    with pytest.raises(StudioError, match="'temperature' is not a setting"):
        sample_images("tiny-gan", [0], {"temperature": 0.5})


def test_diffaugment_switch_and_gradients():
    assert use_diffaugment("auto", 500) is True
    assert use_diffaugment("auto", 5000) is False
    assert use_diffaugment(True, 5000) is True and use_diffaugment(False, 10) is False
    with pytest.raises(StudioError, match="diffaugment must be"):
        use_diffaugment("sometimes", 10)
    x = torch.randn(6, 3, 32, 32, requires_grad=True)
    y = diff_augment(x)
    y.square().sum().backward()
    assert y.shape == x.shape and x.grad.abs().sum() > 0
    assert (y == 0).flatten(1).float().mean(1).min() >= 0.2  # the cutout square (a quarter of the image)


def test_non_saturating_loss_and_unknown_loss(tmp_path):
    from accelerate import Accelerator
    fam = get_family("gan")
    config = {**fam.default_config(32, 3), **TINY}
    recipe = {**fam.default_recipe(), "loss": "non-saturating", "diffaugment": True}
    trainer = fam.trainer(config, recipe, Accelerator(cpu=True))
    losses = trainer.train_step(torch.rand(4, 3, 32, 32) * 2 - 1, 0)
    assert set(losses) == {"generator", "discriminator", "real_score", "fake_score"}
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    with pytest.raises(StudioError, match="loss must be"):
        fam.trainer(config, {**recipe, "loss": "wasserstein"}, Accelerator(cpu=True))
