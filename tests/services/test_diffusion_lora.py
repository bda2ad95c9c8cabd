"""Fine-tuning a diffusion model: LoRA adapters (family diffusion-lora) and full fine-tunes, through the training
service and the shared loop, on a tiny colour base trained here; sampling, DDIM inversion, export/import and
merging of adapters; and every kind of bad input the issue lists."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from studio.core import jobs
from studio.core.errors import StudioError
from studio.core.registry import default_registry, weights_hash
from studio.services import models
from studio.services.generate import generate
from studio.services.training import start_training
from studio.train import run
from tests.support.files import save_tiny_vae
from tests.support.training import train_in_process

TINY = {"block_out_channels": [8, 16], "attention": [False, True], "norm_num_groups": 4,
        "attention_head_dim": 4, "layers_per_block": 1, "num_train_timesteps": 100}
FAST = {"preview_steps": 2}


def colour_pngs(folder: Path, count: int, size: int = 16, seed: int = 0) -> list[Path]:
    """Small real PNG files of coloured discs on white: an artist's few images, made here."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[:size, :size]
    paths = []
    for i in range(count):
        cx, cy, r = rng.uniform(4, size - 4, 2).tolist() + [rng.uniform(3, size / 3)]
        colour = rng.integers(0, 256, 3)
        array = np.full((size, size, 3), 255, np.uint8)
        array[(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] = colour
        paths.append(folder / f"disc-{i:02d}.png")
        Image.fromarray(array).save(paths[-1])
    return paths


def fine_tune(name: str, files, **options) -> Path:
    out = start_training("diffusion", name, files=files, start=False, command=f"test {name}",
                         recipe={**FAST, **options.pop("recipe", {})}, **options)
    folder = jobs.job_dir(out["job"])
    assert run(folder) == "completed", (folder / "status.json").read_text()
    return folder


@pytest.fixture(scope="module")
def base(module_home, tmp_path_factory):
    """A tiny 16 px colour diffusion base, and a folder of 12 disc images to fine-tune it on."""
    train_in_process("diffusion", "tiny-base", steps=3, image_size=16, color=True,
                     recipe={"batch_size": 8, **FAST}, config=TINY)
    return colour_pngs(tmp_path_factory.mktemp("discs"), 12)


@pytest.fixture(scope="module")
def adapter(base):
    fine_tune("discs-lora", base, base_model="tiny-base", rank=4, steps=4, batch_size=8,
              recipe={"learning_rate": 0.05})
    return "discs-lora"


def test_the_adapter_folder_holds_only_the_adapter_and_names_its_base(adapter):
    record = default_registry().get(adapter)
    files = {p.name for p in record.path.iterdir()}
    assert files - {"LICENSE.md"} == {"adapter_config.json", "adapter_model.safetensors", "studio.json", "README.md",
                                      "samples.png"}
    assert record.family == "diffusion-lora" and record.meta["kind"] == "image"
    config = record.meta["config"]
    assert config["base_model"] == "tiny-base" and config["r"] == 4 and config["alpha"] == 4
    assert config["base_weights"] == weights_hash(default_registry().get("tiny-base").path)
    assert record.meta["shapes"] == {"image_size": 16, "channels": 3, "base_model": "tiny-base"}
    # A pointer by name, never a machine path.
    home = os.environ["STUDIO_HOME"]
    for name in ("studio.json", "adapter_config.json", "README.md"):
        assert home not in (record.path / name).read_text() and "/jobs/" not in (record.path / name).read_text()
    assert json.loads((record.path / "adapter_config.json").read_text())["base_model_name_or_path"] == "tiny-base"
    assert "tiny-base" in (record.path / "README.md").read_text()
    # Only LoRA weights are stored.
    from safetensors.torch import load_file
    weights = load_file(str(record.path / "adapter_model.safetensors"))
    assert weights and all("lora_" in key for key in weights)
    assert any("to_q" in key for key in weights) and any("conv1" in key for key in weights)


def test_an_adapter_generates_interpolates_and_differs_from_its_base(adapter, tmp_path):
    from studio.services.interpolate import interpolate

    mine = generate(adapter, count=2, seed=3, out_dir=tmp_path / "mine", steps=10)
    theirs = generate("tiny-base", count=2, seed=3, out_dir=tmp_path / "base", steps=10)
    a, b = (np.asarray(Image.open(r.files[0])).astype(int) for r in (mine, theirs))
    assert a.shape == (16, 16, 3) and np.abs(a - b).mean() > 1
    again = generate(adapter, count=1, seed=3, out_dir=tmp_path / "again", steps=10)
    assert np.array_equal(np.asarray(Image.open(again.files[0])), np.asarray(Image.open(mine.files[0])))
    # DDIM inversion of an artist's image through the adapted model, then a walk to a seed.
    picture = colour_pngs(tmp_path / "keyframe", 1, seed=9)[0]
    result = interpolate(adapter, seeds=[5], images=[str(picture)], frames=3, loop=False, steps=10,
                         out_dir=tmp_path / "walk")
    assert len(result.frames) >= 3 and result.parameters["keyframes"][-1]["encoding"] == "ddim-inversion"


def test_export_import_and_merge(adapter, tmp_path):
    archive = models.export_model(adapter, tmp_path)
    base_size = sum(p.stat().st_size for p in (default_registry().get("tiny-base").path / "unet").glob("*.safetensors"))
    adapter_size = (default_registry().get(adapter).path / "adapter_model.safetensors").stat().st_size
    assert adapter_size < base_size
    imported = models.import_model(archive, "discs-lora-copy")
    assert imported["family"] == "diffusion-lora"
    settings = dict(count=1, seed=4, steps=10)
    reference = np.asarray(Image.open(generate(adapter, out_dir=tmp_path / "a", **settings).files[0]))
    copy = np.asarray(Image.open(generate("discs-lora-copy", out_dir=tmp_path / "b", **settings).files[0]))
    assert np.array_equal(reference, copy)

    merged = models.merge_lora(adapter, "discs-merged")
    assert merged["family"] == "diffusion" and merged["image_size"] == 16
    record = default_registry().get("discs-merged")
    assert record.meta["config"]["merged_from"] == adapter and (record.path / "unet").is_dir()
    standalone = np.asarray(Image.open(generate("discs-merged", out_dir=tmp_path / "c", **settings).files[0]))
    assert np.abs(standalone.astype(int) - reference.astype(int)).max() <= 1  # the same weights, merged once
    with pytest.raises(StudioError, match="not a LoRA adapter"):
        models.merge_lora("tiny-base", "nothing")


@pytest.mark.parametrize("edit,message", [
    ({"studio.json": lambda m: m["config"].update(base_model="/etc/models/secret")},
     "base_model must name a diffusion model in this studio"),
    ({"studio.json": lambda m: m["config"].update(base_model="../tiny-base")},
     "base_model must name a diffusion model in this studio"),
    ({"studio.json": lambda m: m["config"].update(r=100_000)}, "config r must be a whole number from 1 to 1024"),
    ({"studio.json": lambda m: m["config"].update(target_modules=["conv1; import os"])}, "module name"),
    ({"adapter_config.json": lambda c: c.update(modules_to_save=["conv_in"])}, "modules_to_save"),
    ({"adapter_config.json": lambda c: c.update(auto_mapping={"base_model_class": "os.system"})}, "auto_mapping"),
    ({"adapter_config.json": lambda c: c.update(r=2)}, "adapter_config.json has rank 2"),
])
def test_hostile_diffusion_adapters_are_refused_before_anything_is_built(adapter, tmp_path, edit, message):
    from tests.support.files import model_zip

    archive = model_zip(default_registry().get(adapter).path, tmp_path / "evil.zip", edit=edit)
    with pytest.raises(StudioError, match="the archive's model is refused") as caught:
        models.import_model(archive, "hostile")
    assert message in str(caught.value) and not default_registry().exists("hostile")


def test_a_diffusion_adapter_holding_other_tensors_is_refused(adapter, tmp_path):
    from safetensors.torch import save_file

    from tests.support.files import model_zip

    fake = tmp_path / "fake.safetensors"
    save_file({"base_model.model.conv_in.weight": torch.zeros(8, 3, 3, 3)}, str(fake))
    archive = model_zip(default_registry().get(adapter).path, tmp_path / "evil.zip",
                        replace={"adapter_model.safetensors": fake.read_bytes()})
    with pytest.raises(StudioError, match="not a LoRA adapter tensor"):
        models.import_model(archive, "hostile")


def test_a_full_fine_tune_starts_from_the_base_weights(base):
    from accelerate import Accelerator

    from studio.families import get_family

    out = start_training("diffusion", "discs-full", files=base, base_model="tiny-base", adapter="full", steps=2,
                         batch_size=4, recipe=FAST, start=False)
    folder = jobs.job_dir(out["job"])
    spec = json.loads((folder / "spec.json").read_text())
    assert spec["family"] == "diffusion" and spec["config"]["fine_tuned_from"] == "tiny-base"
    assert spec["recipe"]["learning_rate"] == 2e-4  # the fine-tuning recipe, not the from-scratch one
    trainer = get_family("diffusion").trainer(spec["config"], spec["recipe"], Accelerator(cpu=True), job_dir=folder)
    base_unet = models.load_model("tiny-base", torch.device("cpu")).module
    for (name, p), q in zip(trainer.unet.named_parameters(), base_unet.parameters()):
        assert torch.equal(p, q), name
    assert run(folder) == "completed"
    assert default_registry().get("discs-full").family == "diffusion"


def test_bad_fine_tuning_requests_get_clear_messages(base, tmp_path):
    save_tiny_vae(None, "tiny-vae", image_size=16, channels=3)
    cases = [
        (dict(base_model="no-such-base"), r"no model named 'no-such-base' to fine-tune \(diffusion models in this "
                                          r"studio: .*tiny-base"),
        (dict(base_model="tiny-vae"), "'tiny-vae' is a vae model; fine-tuning starts from a diffusion model"),
        (dict(base_model="tiny-base", image_size=32), "image_size must match the base model: 'tiny-base' makes 16 px"),
        (dict(base_model="tiny-base", color=False), "color must match the base model: 'tiny-base' is a colour"),
        (dict(base_model="tiny-base", rank=0), r"rank must be between 1 and 8 \(the narrowest layer"),
        (dict(base_model="tiny-base", rank=9), r"rank must be between 1 and 8"),
        (dict(base_model="tiny-base", batch_size=16), "batch_size 16 is larger than the 12 usable images"),
        (dict(base_model="tiny-base", adapter="dora"), "adapter must be one of lora, full"),
        (dict(base_model="tiny-base", adapter="full", rank=4), "rank applies to LoRA adapters only"),
        (dict(adapter="lora"), "adapter 'lora' applies to fine-tuning a base model: give base_model"),
        (dict(rank=4), "rank applies to fine-tuning a base model"),
    ]
    for options, message in cases:
        with pytest.raises(StudioError, match=message):
            start_training("diffusion", "bad-tune", files=base, start=False, **options)
    with pytest.raises(StudioError, match="base_model only applies to family 'lora' or 'diffusion'"):
        start_training("vae", "bad-tune", files=base, base_model="tiny-base", start=False)
    with pytest.raises(StudioError, match="base_model: name the diffusion model to fine-tune"):
        start_training("diffusion-lora", "bad-tune", files=base, start=False)
    assert not default_registry().exists("bad-tune") and not any(j["model"] == "bad-tune" for j in jobs.list_jobs())
    # Fewer images than the default batch: the batch shrinks to the images, and the report says so.
    out = start_training("diffusion", "small-batch", files=base[:5], base_model="tiny-base", start=False)
    assert "batch size lowered to 5" in out["report"]
    assert json.loads((jobs.job_dir(out["job"]) / "spec.json").read_text())["recipe"]["batch_size"] == 5


def test_a_base_with_adapters_keeps_its_name_and_an_adapter_without_its_base_says_why(base, tmp_path):
    # A job keeps its own copy of the base: it finishes even if the base goes away meanwhile.
    shutil.copytree(default_registry().get("tiny-base").path, tmp_path / "keep")
    models.import_model(models.export_model("tiny-base", tmp_path), "doomed-base")
    out = start_training("diffusion", "orphan", files=base, base_model="doomed-base", rank=2, steps=2,
                         batch_size=4, recipe=FAST, start=False)
    models.delete_model("doomed-base")  # no adapter is built on it yet
    assert run(jobs.job_dir(out["job"])) == "completed"
    orphan = default_registry().get("orphan")
    with pytest.raises(StudioError, match="needs its base model 'doomed-base', which is not in this studio .*"
                                          "the adapter itself is kept"):
        generate("orphan", count=1, seed=0, steps=10)
    assert (orphan.path / "adapter_model.safetensors").is_file()  # nothing lost: it can still be exported
    assert models.export_model("orphan", tmp_path / "export").is_file()
    # Restoring the base under its name brings the adapter back.
    models.import_model(models.export_model("tiny-base", tmp_path / "again"), "doomed-base")
    assert len(generate("orphan", count=1, seed=0, steps=10, out_dir=tmp_path / "ok").files) == 1
    # ...and while an adapter is built on a model, that model cannot be renamed or deleted.
    for action in (lambda: models.delete_model("doomed-base"), lambda: models.rename_model("doomed-base", "x")):
        with pytest.raises(StudioError, match="the LoRA adapters 'orphan' are built on it"):
            action()
    assert default_registry().exists("doomed-base")


def test_an_adapter_whose_base_changed_says_so(base, tmp_path):
    models.import_model(models.export_model("tiny-base", tmp_path), "swapped-base")
    fine_tune("swapped-lora", base, base_model="swapped-base", rank=2, steps=1, batch_size=4)
    folder = default_registry().get("swapped-base").path / "unet" / "diffusion_pytorch_model.safetensors"
    from safetensors.torch import load_file, save_file
    weights = load_file(str(folder))
    save_file({k: v + 0.01 for k, v in weights.items()}, str(folder))
    with pytest.raises(StudioError, match="'swapped-base' has different weights from the one this adapter was "
                                          "trained on"):
        generate("swapped-lora", count=1, seed=0, steps=10)


def _shipped_adapters():
    from tests.services.test_hub_folders import folders
    return folders("diffusion-lora")


def _load_alone_script(base: Path, adapter: Path) -> str:
    """A script for a fresh Python without the studio: the base with diffusers, the adapter with peft."""
    return f"""
        import numpy as np, torch
        from diffusers import DDIMPipeline
        from peft import PeftModel
        pipe = DDIMPipeline.from_pretrained({str(base)!r})
        pipe.unet = PeftModel.from_pretrained(pipe.unet, {str(adapter)!r}).merge_and_unload()
        images = pipe(batch_size=2, num_inference_steps=10, generator=torch.manual_seed(0), output_type="np").images
        np.save("images.npy", images)
    """


def test_an_adapter_loads_with_diffusers_and_peft_alone(adapter, tmp_path):
    from tests.services.test_hub_folders import run_alone

    record = default_registry().get(adapter)
    base = default_registry().get(record.meta["config"]["base_model"]).path
    run_alone(_load_alone_script(base, record.path), tmp_path)
    images = np.load(tmp_path / "images.npy")
    assert images.shape == (2, 16, 16, 3) and np.isfinite(images).all()


@pytest.mark.parametrize("folder", _shipped_adapters(), ids=lambda p: p.name)
def test_shipped_adapters_load_with_diffusers_and_peft_alone(folder, tmp_path):
    from tests.services.test_hub_folders import SHIPPED, run_alone

    base = SHIPPED / json.loads((folder / "studio.json").read_text())["config"]["base_model"]
    run_alone(_load_alone_script(base, folder), tmp_path)
    images = np.load(tmp_path / "images.npy")
    assert images.shape[0] == 2 and images.std() > 0.05
