"""The diffusion family: a real (tiny) training run through the shared loop, the diffusers folder layout,
EMA state across checkpoint and resume, samplers and their settings, and importing a diffusers pipeline."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from studio.core.errors import StudioError
from studio.core.seeds import generator
from studio.families import get_family
from studio.services.models import import_model, load_model
from tests.support.training import train_in_process

TINY = {"block_out_channels": [8, 16], "attention": [False, True], "norm_num_groups": 4,
        "attention_head_dim": 4, "layers_per_block": 1, "num_train_timesteps": 100}


@pytest.fixture(scope="module")
def trained(module_home):
    folder = train_in_process("diffusion", "tiny-diffusion", steps=3, image_size=16,
                              recipe={"batch_size": 8, "preview_steps": 2}, config=TINY)
    return folder


def _registry():
    from studio.core.registry import default_registry
    return default_registry()


def _model_dir(name: str) -> Path:
    return Path(os.environ["STUDIO_HOME"]) / "models" / name


def test_saved_folder_is_a_diffusers_pipeline(trained):
    from diffusers import DDPMPipeline, UNet2DModel

    folder = _model_dir("tiny-diffusion")
    assert (folder / "model_index.json").is_file() and (folder / "scheduler" / "scheduler_config.json").is_file()
    assert (folder / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    pipe = DDPMPipeline.from_pretrained(str(folder), use_safetensors=True)
    out = pipe(batch_size=1, num_inference_steps=2, output_type="np", generator=generator(0)).images
    assert out.shape == (1, 16, 16, 1) and np.isfinite(out).all()

    loaded = load_model("tiny-diffusion", torch.device("cpu"))
    assert isinstance(loaded.module, UNet2DModel) and not loaded.module.training
    assert loaded.extras["scheduler_config"]["num_train_timesteps"] == 100
    assert loaded.extras["scheduler_config"]["prediction_type"] == "epsilon"
    assert len(loaded.weights_hash) == 16
    # The saved UNet is the EMA copy from the final checkpoint, not the live one.
    from safetensors.torch import load_file
    ema = load_file(str(trained / "checkpoint" / "ema.safetensors"))
    live = load_file(str(trained / "checkpoint" / "unet.safetensors"))
    saved = load_file(str(folder / "unet" / "diffusion_pytorch_model.safetensors"))
    key = "conv_in.weight"
    assert torch.equal(saved[key], ema["unet." + key]) and not torch.equal(saved[key], live[key])
    assert int(ema["optimization_step"]) == 3


def test_zip_export_and_import_round_trip(trained, tmp_path):
    registry = _registry()
    archive = registry.export_zip("tiny-diffusion", tmp_path)
    record = registry.get(import_model(archive, "tiny-diffusion-copy")["name"])
    assert (record.path / "unet" / "config.json").is_file()
    from studio.core.registry import weights_hash
    assert weights_hash(record.path) == weights_hash(_model_dir("tiny-diffusion"))


def test_latents_and_deterministic_ddim(trained):
    fam = get_family("diffusion")
    loaded = load_model("tiny-diffusion", torch.device("cpu"))
    z = fam.latents(loaded, [5, 9])
    assert z.shape == (2, 1, 16, 16) and torch.equal(z[1], torch.randn(1, 16, 16, generator=generator(9)))
    settings = fam.check_settings({"sampler": "ddim", "steps": 10, "eta": 0})
    a, b = fam.decode(loaded, z, settings), fam.decode(loaded, z, settings)
    assert a.shape == (2, 1, 16, 16) and a.min() >= 0 and a.max() <= 1 and torch.equal(a, b)


@pytest.mark.parametrize("settings", [{"sampler": "ddim", "steps": 10},
                                      {"sampler": "ddim", "steps": 10, "eta": 1.0},
                                      {"sampler": "dpm++", "steps": 10},
                                      {"sampler": "ddpm", "steps": 10}])
def test_per_image_seeds_match_single_generation(trained, tmp_path, settings):
    from studio.services.generate import generate
    batch = generate("tiny-diffusion", count=3, seed=100, out_dir=tmp_path / "batch", **settings)
    alone = generate("tiny-diffusion", count=1, seed=102, out_dir=tmp_path / "alone", **settings)
    assert np.array_equal(np.asarray(Image.open(batch.files[2])), np.asarray(Image.open(alone.files[0])))
    assert not np.array_equal(np.asarray(Image.open(batch.files[0])), np.asarray(Image.open(batch.files[2])))
    assert batch.parameters["sampler"] == settings["sampler"] and batch.parameters["steps"] == 10


def test_bad_settings_get_clear_messages(trained):
    from studio.services.generate import sample_images
    for steps in (0, 100000):
        with pytest.raises(StudioError, match=f"steps must be between 10 and 1000; got {steps}"):
            sample_images("tiny-diffusion", [0], {"steps": steps})
    with pytest.raises(StudioError, match="sampler must be one of ddim, dpm\\+\\+, ddpm"):
        sample_images("tiny-diffusion", [0], {"sampler": "euler"})
    with pytest.raises(StudioError, match="eta applies to the ddim sampler only"):
        sample_images("tiny-diffusion", [0], {"sampler": "dpm++", "eta": 0.5})
    with pytest.raises(StudioError, match=r"'truncation' is not a setting of diffusion model \(DDPM\) models; "
                                          r"they take: sampler, steps, eta"):
        sample_images("tiny-diffusion", [0], {"truncation": 0.7})
    # This model has 100 noise levels: more steps than that cannot be taken.
    with pytest.raises(StudioError, match="steps must be between 1 and 100 for this model"):
        sample_images("tiny-diffusion", [0], {"steps": 500})


def test_ema_state_survives_checkpoint_and_resume(tmp_path):
    from accelerate import Accelerator

    from studio.train import load_checkpoint, save_checkpoint

    fam = get_family("diffusion")
    config = {**fam.default_config(16, 1), **TINY}
    recipe = fam.default_recipe()
    batch = torch.rand(4, 1, 16, 16) * 2 - 1
    first = fam.trainer(config, recipe, Accelerator(cpu=True))
    torch.manual_seed(0)
    for step in range(3):
        first.train_step(batch, step)
    save_checkpoint(tmp_path, first, 3, 1.0)

    torch.manual_seed(123)  # a different initialisation: everything must come from the checkpoint
    second = fam.trainer(config, recipe, Accelerator(cpu=True))
    assert load_checkpoint(tmp_path, second) == (3, 1.0)
    for a, b in zip(first.ema_weights.parameters(), second.ema_weights.parameters()):
        assert torch.equal(a, b)
    torch.manual_seed(7)
    first.train_step(batch, 3)
    torch.manual_seed(7)
    second.train_step(batch, 3)
    assert second.ema.optimization_step == first.ema.optimization_step == 4
    for a, b in zip(first.ema_weights.parameters(), second.ema_weights.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    # ...and the EMA really moved: the averaged weights follow the live UNet, not the initial copy.
    live = dict(second.unet.named_parameters())
    ema = dict(second.ema_weights.unet.named_parameters())
    assert not torch.equal(ema["conv_in.weight"], live["conv_in.weight"])


def _tiny_pipeline(folder: Path, safe: bool = True) -> None:
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel
    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=8, in_channels=3, out_channels=3, block_out_channels=(8, 16),
                       down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                       layers_per_block=1, norm_num_groups=4, add_attention=False)
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=50)).save_pretrained(
        str(folder), safe_serialization=safe)


def test_import_a_local_diffusers_pipeline(trained, tmp_path):
    from studio.services.generate import generate
    from studio.services.models import import_diffusers_pipeline as import_pipeline

    _tiny_pipeline(tmp_path / "pipe")
    record = import_pipeline(str(tmp_path / "pipe"), "imported-ddpm")
    assert record.family == "diffusion" and record.meta["shapes"] == {"image_size": 8, "channels": 3}
    out = generate("imported-ddpm", count=2, seed=1, out_dir=tmp_path / "gen", sampler="dpm++", steps=10)
    assert Image.open(out.files[0]).size == (8, 8)
    with pytest.raises(StudioError, match="already exists"):
        import_pipeline(str(tmp_path / "pipe"), "imported-ddpm")


def test_import_refuses_pickle_weights_and_fails_fast_offline(trained, tmp_path):
    from studio.services.models import import_diffusers_pipeline as import_pipeline

    _tiny_pipeline(tmp_path / "pickled", safe=False)
    with pytest.raises(StudioError, match="could not load the diffusers pipeline"):
        import_pipeline(str(tmp_path / "pickled"), "pickled-ddpm")
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    with pytest.raises(StudioError, match="Hub is unreachable"):
        import_pipeline("google/ddpm-cifar10-32", "cifar-ddpm")
    assert not _registry().exists("cifar-ddpm") and not _registry().exists("pickled-ddpm")
