"""Training text models through the real worker: a GPT-2 from scratch and a LoRA adapter, saved, reloaded,
exported, imported, resumed; and the clear refusals."""
from __future__ import annotations

import json

import pytest

from studio.core import jobs
from studio.core.errors import StudioError
from studio.core.registry import default_registry
from studio.services.models import import_model, merge_lora
from studio.services.training import start_training
from studio.services.write import write_text
from studio.train import run
from tests.support.text import save_tiny_text_model, write_corpus

TINY = {"eval_every": 3, "eval_windows": 8, "warmup_steps": 2}


def test_train_cancel_resume_save_export_import(tmp_path):
    files = write_corpus(tmp_path / "poems")
    result = start_training("text", "tyger-char", files=files, size="tiny", steps=6, batch_size=4, context=16,
                                 recipe=TINY, start=False)
    assert "3 file(s)" in result["report"]
    folder = jobs.job_dir(result["job"])
    (folder / "cancel").touch()
    assert run(folder) == "cancelled"  # stops before the first step, keeping a checkpoint
    (folder / "cancel").unlink()
    assert run(folder, resume=True) == "completed"

    status = json.loads((folder / "status.json").read_text())
    assert status["speed_unit"] == "tokens/s" and status["speed"] > 0
    rows = [json.loads(line) for line in (folder / "losses.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 6 and {"loss", "val_loss", "perplexity"} <= set(rows[-1])
    assert rows[-1]["perplexity"] == pytest.approx(2.718281828 ** rows[-1]["val_loss"], rel=1e-4)
    assert (folder / "sample.txt").read_text().strip()

    registry = default_registry()
    info = registry.info("tyger-char")
    assert {"config.json", "model.safetensors", "tokenizer.json", "samples.txt", "README.md"} <= set(info["files"])
    assert info["kind"] == "text" and "/write" in info["card"] and "characters" in info["card"].lower()
    text = write_text("Tyger", model="tyger-char", max_new_tokens=20, seed=1)
    assert text.startswith("Tyger") and len(text) > len("Tyger")

    archive = registry.export_zip("tyger-char", tmp_path / "out")
    imported = import_model(archive, name="tyger-copy")
    assert imported["family"] == "text"
    assert write_text("Tyger", model="tyger-copy", max_new_tokens=20, seed=1) == text


def test_corpus_shorter_than_the_context_and_bad_options(tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("A very short poem.\n", encoding="utf-8")
    with pytest.raises(StudioError, match="too short for a context of 64"):
        start_training("text", "short", files=[short], context=64, start=False)
    files = write_corpus(tmp_path / "poems", copies=1)
    with pytest.raises(StudioError, match="size must be one of"):
        start_training("text", "x1", files=files, size="huge", start=False)
    with pytest.raises(StudioError, match="tokenizer must be"):
        start_training("text", "x2", files=files, tokenizer="word", start=False)
    with pytest.raises(StudioError, match="context must be between"):
        start_training("text", "x3", files=files, context=100_000, start=False)
    with pytest.raises(StudioError, match="exactly one text source"):
        start_training("text", "x4", start=False)


def test_lora_fine_tune_load_merge_and_missing_base(tmp_path):
    save_tiny_text_model("lora-base")
    files = write_corpus(tmp_path / "poems", copies=1)
    result = start_training("lora", "tyger-lora", base_model="lora-base", files=files, steps=4, batch_size=2, context=16,
                                 recipe={"eval_every": 2, "eval_windows": 4, "warmup_steps": 1}, start=False)
    assert run(jobs.job_dir(result["job"])) == "completed"
    registry = default_registry()
    record = registry.get("tyger-lora")
    assert record.family == "lora" and record.meta["config"]["base_model"] == "lora-base"
    files_saved = {p.name for p in record.path.iterdir()}
    assert {"adapter_model.safetensors", "adapter_config.json", "tokenizer.json"} <= files_saved
    assert "model.safetensors" not in files_saved  # only the adapter, not a copy of the base
    lora_text = write_text("Tyger", model="tyger-lora", max_new_tokens=15, seed=2, temperature=0)

    merged = merge_lora("tyger-lora", "tyger-merged")
    assert merged["family"] == "text"
    assert write_text("Tyger", model="tyger-merged", max_new_tokens=15, seed=2, temperature=0) == lora_text

    archive = registry.export_zip("tyger-lora", tmp_path / "out")
    import_model(archive, name="tyger-lora-copy")  # checked against its base, not loaded for writing yet
    registry.delete("lora-base")
    with pytest.raises(StudioError, match="needs its base model 'lora-base'"):
        write_text("Tyger", model="tyger-lora-copy", max_new_tokens=5)
    with pytest.raises(StudioError, match="needs its base model 'lora-base'"):
        import_model(archive, name="lora-orphan")
    with pytest.raises(StudioError, match="base model 'lora-base' is not available"):
        start_training("lora", "again", base_model="lora-base", files=files, start=False)


def test_lora_on_a_local_llama_folder(tmp_path, monkeypatch):
    from tests.support.text import tiny_llama_folder

    base = tiny_llama_folder(tmp_path / "llama")
    files = write_corpus(tmp_path / "poems", copies=1)
    with pytest.raises(StudioError, match="STUDIO_DATA_ROOTS"):
        start_training("lora", "llama-lora", base_model=str(base), files=files, start=False)
    monkeypatch.setenv("STUDIO_DATA_ROOTS", str(tmp_path))
    result = start_training("lora", "llama-lora", base_model=str(base), files=files, steps=2, batch_size=2, context=16,
                                 recipe={"eval_every": 1, "eval_windows": 2, "warmup_steps": 1}, start=False)
    assert run(jobs.job_dir(result["job"])) == "completed"
    adapter = default_registry().get("llama-lora")
    config = json.loads((adapter.path / "adapter_config.json").read_text())
    assert set(config["target_modules"]) == {"q_proj", "v_proj"}  # peft's choice for the Llama architecture
    text = write_text("Tyger", model="llama-lora", max_new_tokens=6, seed=0, chat=False)
    assert text.startswith("Tyger")
