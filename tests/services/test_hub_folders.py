"""Every shipped model folder is a Hub repository that its own library loads, with no studio import.

Each folder is loaded in a fresh Python that never imports `studio` (checked at the end of the script):
the studio's own networks through huggingface_hub's `PyTorchModelHubMixin` and the network file in the
folder, diffusion models through a diffusers pipeline, text models through transformers (`generate`, 200
new tokens), LoRA adapters through peft. The samples they make are compared with the studio's own.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "checkpoints"
SEEDS = [0, 1, 2, 3]

NO_STUDIO = """
import sys
studio = [m for m in sys.modules if m == "studio" or m.startswith("studio.")]
assert not studio, f"the studio was imported: {studio}"
"""


def folders(*families: str) -> list[Path]:
    found = []
    for meta_path in sorted(SHIPPED.glob("*/studio.json")):
        if json.loads(meta_path.read_text())["family"] in families:
            found.append(meta_path.parent)
    return found


def run_alone(script: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run `script` in a fresh Python whose path holds no studio (not the repository, not the cwd)."""
    code = tmp_path / "alone.py"
    code.write_text(textwrap.dedent(script) + NO_STUDIO, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["OMP_NUM_THREADS"] = "1"
    out = subprocess.run([sys.executable, "-P", str(code)], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    return out


def photo(name: str, size: int) -> torch.Tensor:
    """An installed photo (scikit-image, public domain), `size` px square, as (1, 3, size, size) in [0, 1]."""
    import numpy as np

    from studio.data.examples import installed_image

    image = installed_image(name).load().convert("RGB").resize((size, size))
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)[None].float() / 255


def studio_images(name: str, seeds: list[int]) -> torch.Tensor:
    from studio.services.models import load_model

    loaded = load_model(name, torch.device("cpu"))
    fam = loaded.family
    return fam.sample(loaded, seeds, fam.check_settings({}))


@pytest.mark.parametrize("folder", folders("vae", "gan"), ids=lambda p: p.name)
def test_image_networks_load_with_the_mixin_alone(folder, tmp_path):
    meta = json.loads((folder / "studio.json").read_text())
    module, cls = {"vae": ("conv_vae", "ConvVAE"), "gan": ("dcgan", "Generator")}[meta["family"]]
    assert (folder / "config.json").is_file() and (folder / f"{module}.py").is_file()
    run_alone(f"""
        import sys
        sys.path.insert(0, {str(folder)!r})
        from safetensors.torch import save_file
        from {module} import {cls}
        net = {cls}.from_pretrained({str(folder)!r})
        assert not net.training
        save_file({{"images": net.generate(seeds={SEEDS}).contiguous()}}, "images.safetensors")
    """, tmp_path)
    alone = load_file(str(tmp_path / "images.safetensors"))["images"]
    assert alone.shape == (4, meta["shapes"]["channels"], meta["shapes"]["image_size"], meta["shapes"]["image_size"])
    assert alone.std() > 0.05  # pictures, not a flat field
    assert torch.allclose(alone, studio_images(folder.name, SEEDS), atol=1e-5)  # the studio's pictures, seed by seed


@pytest.mark.parametrize("folder", folders("style", "adain"), ids=lambda p: p.name)
def test_style_networks_load_with_the_mixin_alone(folder, tmp_path):
    from studio.services.models import load_model

    family = json.loads((folder / "studio.json").read_text())["family"]
    content = photo("chelsea", 96)
    style = photo("retina", 64)
    save_file({"content": content.contiguous(), "style": style.contiguous()}, str(tmp_path / "inputs.safetensors"))
    module, cls, call = {"style": ("transformer_net", "TransformerNet", "net(x['content'])"),
                         "adain": ("adain_decoder", "Decoder", "net.stylize(x['content'], x['style'])")}[family]
    run_alone(f"""
        import sys
        sys.path.insert(0, {str(folder)!r})
        import torch
        from safetensors.torch import load_file, save_file
        from {module} import {cls}
        net = {cls}.from_pretrained({str(folder)!r})
        x = load_file("inputs.safetensors")
        with torch.no_grad():
            out = {call}
        save_file({{"out": out.contiguous()}}, "out.safetensors")
    """, tmp_path)
    alone = load_file(str(tmp_path / "out.safetensors"))["out"]
    loaded = load_model(folder.name, torch.device("cpu"))
    if family == "style":
        studio = loaded.family.stylize(loaded, content)
    else:
        studio = loaded.family.stylize(loaded, content, [style], [1.0])
    assert alone.shape == content.shape
    assert (alone - content).abs().mean() > 0.02  # it changed the photo
    assert torch.allclose(alone, studio, atol=1e-4)


@pytest.mark.parametrize("folder", folders("diffusion"), ids=lambda p: p.name)
def test_diffusion_folders_load_as_a_diffusers_pipeline(folder, tmp_path):
    run_alone(f"""
        import numpy as np, torch
        from diffusers import DDIMPipeline
        pipe = DDIMPipeline.from_pretrained({str(folder)!r})
        assert pipe.scheduler.config.timestep_spacing == "trailing"
        pipe.scheduler.set_timesteps(25)
        assert int(pipe.scheduler.timesteps[0]) == 999  # the first step starts from pure noise
        images = pipe(batch_size=4, num_inference_steps=25, generator=torch.manual_seed(0), output_type="np").images
        np.save("images.npy", images)
    """, tmp_path)
    import numpy as np

    images = np.load(tmp_path / "images.npy")
    assert images.shape[0] == 4 and np.isfinite(images).all() and 0 <= images.min() and images.max() <= 1
    assert images.std() > 0.1  # pictures with contrast, not noise averaged to grey or a flat field


@pytest.mark.parametrize("folder", folders("text"), ids=lambda p: p.name)
def test_text_folders_generate_200_tokens_with_transformers(folder, tmp_path):
    out = run_alone(f"""
        import json, torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        model = AutoModelForCausalLM.from_pretrained({str(folder)!r})
        tokenizer = AutoTokenizer.from_pretrained({str(folder)!r})
        assert tokenizer.model_max_length == model.config.n_positions >= 256, tokenizer.model_max_length
        ids = tokenizer("The sea", return_tensors="pt").input_ids
        torch.manual_seed(0)
        out = model.generate(ids, max_new_tokens=200, min_new_tokens=200, do_sample=True, temperature=0.8,
                             top_p=0.95)
        assert out.shape[1] == ids.shape[1] + 200
        print(json.dumps(tokenizer.decode(out[0], skip_special_tokens=True)))
    """, tmp_path)
    text = json.loads(out.stdout.strip().splitlines()[-1])
    assert text.startswith("The sea") and len(text) > 150
    config = json.loads((folder / "tokenizer_config.json").read_text())
    assert not {"is_local", "local_files_only"} & set(config)


def test_lora_adapters_load_with_peft_alone(isolated_home, tmp_path, monkeypatch):
    from studio.core import jobs
    from studio.core.registry import default_registry
    from studio.services.training import start_training
    from studio.train import run
    from tests.support.text import tiny_llama_folder, write_corpus

    base = tiny_llama_folder(tmp_path / "bases" / "llama")
    monkeypatch.setenv("STUDIO_DATA_ROOTS", str(tmp_path / "bases"))
    files = write_corpus(tmp_path / "poems", copies=1)
    result = start_training("lora", "peft-lora", base_model=str(base), files=files, steps=2, batch_size=2,
                            context=16, recipe={"eval_every": 1, "eval_windows": 2, "warmup_steps": 1}, start=False)
    assert run(jobs.job_dir(result["job"])) == "completed"
    adapter = default_registry().get("peft-lora").path
    assert adapter.joinpath("studio.json").read_text().count(str(tmp_path)) == 0  # no machine path anywhere
    assert json.loads((adapter / "studio.json").read_text())["config"]["base_model"] == "llama"
    assert json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"] == "llama"
    run_alone(f"""
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM, AutoTokenizer
        base = AutoModelForCausalLM.from_pretrained({str(base)!r})
        model = PeftModel.from_pretrained(base, {str(adapter)!r})
        tokenizer = AutoTokenizer.from_pretrained({str(adapter)!r})
        ids = tokenizer("Tyger", return_tensors="pt").input_ids
        out = model.generate(ids, max_new_tokens=8, do_sample=False)
        assert out.shape[1] == ids.shape[1] + 8
    """, tmp_path)


def test_new_diffusion_folders_save_the_spacing_the_studio_samples_with(tmp_path):
    from diffusers import DDPMPipeline

    from studio.families import get_family
    from studio.families.diffusion import TIMESTEP_SPACING, training_scheduler

    fam = get_family("diffusion")
    config = {**fam.default_config(16, 1), "block_out_channels": [8, 8, 8]}
    fam.save(DDPMPipeline(unet=fam.build(config), scheduler=training_scheduler(config)), tmp_path)
    saved = json.loads((tmp_path / "scheduler" / "scheduler_config.json").read_text())
    assert saved["timestep_spacing"] == TIMESTEP_SPACING == "trailing"
