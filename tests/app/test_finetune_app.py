"""Fine-tuning through the real app with gradio_client: a 30-step LoRA fine-tune of a diffusion base on 24
uploaded images via /train, then generating, exporting and merging it, and the requests /train must refuse."""
from __future__ import annotations

import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from studio.core.registry import default_registry
from tests.services.test_diffusion_lora import TINY, colour_pngs
from tests.support.files import write_zip
from tests.support.training import train_in_process

BASE = "app-ft-base"


@pytest.fixture(scope="module")
def base(app, tmp_path_factory):
    """A tiny 16 px colour diffusion base in the app's registry, and a zip of 24 images to fine-tune it on."""
    if not default_registry().exists(BASE):
        train_in_process("diffusion", BASE, steps=3, image_size=16, color=True,
                         recipe={"batch_size": 8, "preview_steps": 2}, config=TINY)
    folder = tmp_path_factory.mktemp("mine")
    paths = colour_pngs(folder / "discs", 24, seed=4)
    return str(write_zip(folder / "mine.zip", {p.name: p.read_bytes() for p in paths}))


def _wait(client, job: str) -> dict:
    deadline = time.monotonic() + 900  # a safety stop for a hung worker, not a speed check
    while time.monotonic() < deadline:
        status = client.predict(job=job, api_name="/job_status")[0]
        if status["state"] in ("completed", "failed", "cancelled"):
            return status
        time.sleep(1)
    raise AssertionError(f"job {job} did not end")


def _first_image(gallery) -> np.ndarray:
    item = gallery[0]
    return np.asarray(Image.open(item["image"] if isinstance(item, dict) else item[0])).astype(int)


def test_train_takes_base_model_adapter_and_rank(client):
    named = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    names = [p["parameter_name"] for p in named["/train"]["parameters"]]
    assert names[:15] == ["family", "name", "files", "builtin", "image_size", "color", "steps", "batch_size",
                          "learning_rate", "seed", "fit", "background", "flip", "style", "base_model"]
    assert names[15:] == ["adapter", "rank"]


def test_a_lora_fine_tune_from_train_then_generate_export_and_merge(client, base, tmp_path):
    job, report, status = client.predict(family="diffusion", name="app-ft-lora", files=[handle_file(base)],
                                         image_size=16, color=True, base_model=BASE, adapter="lora", rank=4,
                                         steps=30, batch_size=8, api_name="/train")
    assert "24 images used" in report
    assert _wait(client, job)["state"] == "completed"
    info = client.predict(name="app-ft-lora", api_name="/model_info")[0]
    assert info["family"] == "diffusion-lora" and info["image_size"] == 16 and info["channels"] == 3
    assert info["meta"]["config"]["base_model"] == BASE and info["meta"]["training"]["steps"] == 30

    settings = dict(count=2, seed=11, sampler="ddim", steps=10, api_name="/generate")
    mine = _first_image(client.predict(model="app-ft-lora", **settings)[0])
    theirs = _first_image(client.predict(model=BASE, **settings)[0])
    assert mine.shape == (16, 16, 3) and np.abs(mine - theirs).mean() > 1  # the adapter changed the samples

    adapter_zip = client.predict(name="app-ft-lora", api_name="/model_export")
    base_zip = client.predict(name=BASE, api_name="/model_export")
    with zipfile.ZipFile(adapter_zip) as zf:
        assert "app-ft-lora/adapter_model.safetensors" in zf.namelist()
        assert not any(n.endswith("diffusion_pytorch_model.safetensors") for n in zf.namelist())

    merged = client.predict(name="app-ft-lora", new_name="app-ft-merged", api_name="/merge_lora")
    assert merged["family"] == "diffusion"
    standalone = _first_image(client.predict(model="app-ft-merged", **settings)[0])
    assert np.abs(standalone - mine).max() <= 1
    with pytest.raises(AppError, match="the LoRA adapters 'app-ft-lora' are built on it"):
        client.predict(name=BASE, api_name="/model_delete")
    assert Path(adapter_zip).stat().st_size < Path(base_zip).stat().st_size


@pytest.mark.parametrize("kwargs,message", [
    ({"base_model": "no-such-base"}, "no model named 'no-such-base' to fine-tune"),
    ({"base_model": BASE, "rank": 0}, "rank must be between 1 and 8"),
    ({"base_model": BASE, "adapter": "full", "rank": 4}, "rank applies to LoRA adapters only"),
    ({"base_model": BASE, "adapter": "sideways"}, "adapter must be one of lora, full"),
    ({"base_model": BASE, "color": False}, "color must match the base model: 'app-ft-base' is a colour model"),
    ({"base_model": BASE, "image_size": 32}, "image_size must match the base model: 'app-ft-base' makes 16 px"),
    ({"base_model": BASE, "batch_size": 64}, "batch_size 64 is larger than the 24 usable images"),
    ({"family": "gan", "base_model": BASE}, "base_model only applies to family 'lora' or 'diffusion'"),
])
def test_train_refuses_bad_fine_tunes_clearly(client, base, kwargs, message):
    with pytest.raises(AppError, match=message):
        client.predict(api_name="/train", **{"family": "diffusion", "name": "app-bad-tune", "image_size": 16,
                                             "color": True, "files": [handle_file(base)], "steps": 2, **kwargs})
