"""Fine-tuning on favourites through the real worker: image and text models continue from their weights on
their favourites mixed with their training data, the new model's card names the gallery items, and the
requests that must be refused are."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from studio.core import jobs
from studio.core.errors import StudioError
from studio.core.registry import default_registry
from studio.services.favourites import mixed_images, train_on_favourites
from studio.services.gallery import rate
from studio.services.generate import generate
from studio.services.models import list_models
from studio.services.training import start_training
from studio.services.write import stream
from studio.train import run
from tests.support.files import save_tiny_vae
from tests.support.text import write_corpus
from tests.support.training import train_in_process


def _finish(result: dict) -> str:
    return run(jobs.job_dir(result["job"]))


def _weights(name: str) -> dict[str, torch.Tensor]:
    return load_file(str(default_registry().get(name).path / "model.safetensors"))


def test_a_fine_tune_on_two_favourites_completes_is_listed_and_names_its_items(isolated_home):
    train_in_process("vae", "fav-base", steps=2, image_size=16)  # on the built-in digits
    made = generate("fav-base", count=3, seed=7).gallery_ids
    favourites = made[:2]
    for item in favourites:
        rate(item, stars=5, favourite=True)

    result = train_on_favourites("fav-base", "fav-tuned", steps=2, mix=0.5, start=False)
    assert result["gallery_items"] == favourites
    data = load_file(str(jobs.job_dir(result["job"]) / "data.safetensors"))["data"]
    assert data.shape[0] == 1797 + 2 * 898  # the 1,797 digits and the favourites repeated to half of the set
    assert _finish(result) == "completed"

    listed = {m["name"]: m for m in list_models()}
    assert listed["fav-tuned"]["family"] == "vae"
    record = default_registry().get("fav-tuned")
    training = record.meta["training"]
    assert training["start_from"] == "fav-base" and training["gallery_items"] == favourites
    assert training["mix"] == 0.5 and training["original_data"].startswith("its training job")
    card = (record.path / "README.md").read_text()
    assert all(item in card for item in favourites) and "fav-base" in card


def test_training_starts_from_the_models_weights(isolated_home):
    save_tiny_vae(None, "tiny-start", image_size=16, channels=1, seed=4)
    item = generate("tiny-start", count=1, seed=1).gallery_ids[0]
    rate(item, favourite=True)
    # A learning rate of 1e-12 leaves the weights where they start: the saved model's, not a fresh network.
    result = train_on_favourites("tiny-start", "tiny-continued", steps=1, mix=1.0, learning_rate=1e-12,
                                 start=False)
    assert _finish(result) == "completed"
    before, after = _weights("tiny-start"), _weights("tiny-continued")
    assert before.keys() == after.keys()
    # Batch-norm statistics move in one training step; the learned weights do not.
    learned = [k for k in before if "running_" not in k and "num_batches" not in k]
    assert len(learned) > 10 and all(torch.allclose(before[k], after[k], atol=1e-6) for k in learned)


def test_a_gan_continues_its_generator_and_starts_a_fresh_discriminator():
    from accelerate import Accelerator

    from studio.families import get_family

    family = get_family("gan")
    config = {**family.default_config(32, 1), "width": 8, "d_width": 8}
    recipe = {**family.default_recipe(), "batch_size": 2}
    saved = family.build(config).state_dict()
    trainer = family.trainer(config, recipe, Accelerator(cpu=True), None)
    assert trainer.start_from(saved) == ["generator", "ema_generator"]
    assert all(torch.equal(v, trainer.ema.module.state_dict()[k]) for k, v in saved.items())  # the EMA copy
    with pytest.raises(StudioError, match="fit none of this family's networks"):
        trainer.start_from({"something.else": torch.zeros(3)})


def test_a_text_model_fine_tunes_on_its_favourite_texts(isolated_home, tmp_path):
    files = write_corpus(tmp_path / "poems")
    out = start_training("text", "poet", files=files, size="tiny", steps=2, batch_size=4, context=16,
                         recipe={"eval_every": 2, "eval_windows": 8, "warmup_steps": 1}, start=False)
    assert _finish(out) == "completed"
    *_, draft = stream("Tyger", model="poet", max_new_tokens=30, seed=2, variations=3)
    for item in draft.gallery_ids[:2]:
        rate(item, favourite=True)

    result = train_on_favourites("poet", "poet-favourites", steps=2, mix=0.5, start=False)
    assert _finish(result) == "completed"
    record = default_registry().get("poet-favourites")
    assert record.meta["training"]["gallery_items"] == draft.gallery_ids[:2]
    assert record.meta["training"]["original_data"].startswith("its training job")
    assert record.meta["config"] == default_registry().get("poet").meta["config"]  # same network and tokenizer
    assert record.meta["dataset"]["name"] == "favourites of poet"


def test_bad_requests_are_refused(isolated_home):
    save_tiny_vae(None, "lonely", image_size=16, channels=1, seed=1)
    save_tiny_vae(None, "other", image_size=16, channels=1, seed=2)
    with pytest.raises(StudioError, match="has no favourites in the gallery yet"):
        train_on_favourites("lonely", "lonely-2")
    theirs = generate("other", count=1, seed=1).gallery_ids[0]
    rate(theirs, favourite=True)
    with pytest.raises(StudioError, match="not 'lonely'; a model learns only from its own favourites"):
        train_on_favourites("lonely", "lonely-2", items=[theirs])
    mine = generate("lonely", count=1, seed=1).gallery_ids[0]
    with pytest.raises(StudioError, match="is not a favourite"):
        train_on_favourites("lonely", "lonely-2", items=mine)
    rate(mine, favourite=True)
    with pytest.raises(StudioError, match="mix must be above 0"):
        train_on_favourites("lonely", "lonely-2", mix=0)
    with pytest.raises(StudioError, match="mix must be between 0 and 1"):
        train_on_favourites("lonely", "lonely-2", mix=1.5)
    with pytest.raises(StudioError, match="steps must be between 1 and 100000"):
        train_on_favourites("lonely", "lonely-2", steps=0)
    with pytest.raises(StudioError, match="already exists"):
        train_on_favourites("lonely", "other")
    with pytest.raises(StudioError, match="training images of 'lonely' cannot be found"):
        train_on_favourites("lonely", "lonely-2", mix=0.5)  # an untrained test model has no data to mix in
    with pytest.raises(StudioError, match="no model named"):
        train_on_favourites("nobody", "nobody-2")
    assert jobs.list_jobs() == []  # nothing was started


def test_mixing_puts_the_favourites_share_in_the_data():
    originals = torch.zeros(900, 1, 4, 4, dtype=torch.uint8)
    favourites = torch.full((3, 1, 4, 4), 255, dtype=torch.uint8)
    for mix in (0.1, 0.5, 0.8):
        mixed = mixed_images(favourites, originals, mix, batch_size=64)
        share = (mixed[:, 0, 0, 0] == 255).float().mean().item()
        assert share == pytest.approx(mix, abs=0.01)
    assert mixed_images(favourites, None, 1.0, batch_size=64).shape[0] == 66  # favourites alone, a batch or more


def test_a_job_that_starts_from_a_model_keeps_its_shape(isolated_home):
    save_tiny_vae(None, "shape-base", image_size=16, channels=1, seed=1)
    with pytest.raises(StudioError, match="'shape-base' makes image size 16; a job that starts from it keeps that"):
        start_training("vae", "shape-2", builtin="digits", image_size=32, start_from="shape-base", start=False)
    with pytest.raises(StudioError, match="is a vae model; a gan job cannot start from it"):
        start_training("gan", "shape-2", builtin="digits", start_from="shape-base", start=False)
    with pytest.raises(StudioError, match="keeps its architecture; leave config empty"):
        start_training("vae", "shape-2", builtin="digits", start_from="shape-base", config={"latent_dim": 8},
                       start=False)
    out = start_training("vae", "shape-2", builtin="digits", steps=1, start_from="shape-base", start=False)
    spec = json.loads((jobs.job_dir(out["job"]) / "spec.json").read_text())
    assert spec["start_from"]["model"] == "shape-base" and spec["shapes"] == {"image_size": 16, "channels": 1}
    assert spec["config"] == default_registry().get("shape-base").meta["config"]


def test_a_lora_adapter_continues_from_its_own_weights(isolated_home, tmp_path):
    from tests.support.text import save_tiny_text_model

    save_tiny_text_model("fav-lora-base")
    out = start_training("lora", "fav-lora", base_model="fav-lora-base", files=write_corpus(tmp_path / "p", 1),
                         steps=2, batch_size=2, context=16, learning_rate=0.05,
                         recipe={"eval_every": 1, "eval_windows": 2, "warmup_steps": 1}, start=False)
    assert _finish(out) == "completed"
    *_, draft = stream("Tyger", model="fav-lora", max_new_tokens=20, seed=1, variations=2)
    for item in draft.gallery_ids:
        rate(item, favourite=True)
    result = train_on_favourites("fav-lora", "fav-lora-2", steps=1, mix=0.5, learning_rate=1e-12, start=False)
    assert _finish(result) == "completed"
    record = default_registry().get("fav-lora-2")
    assert record.family == "lora" and record.meta["config"]["base_model"] == "fav-lora-base"
    before = load_file(str(default_registry().get("fav-lora").path / "adapter_model.safetensors"))
    after = load_file(str(record.path / "adapter_model.safetensors"))
    assert before.keys() == after.keys() and any(v.abs().sum() > 0 for k, v in before.items() if "lora_B" in k)
    assert all(torch.allclose(before[k], after[k], atol=1e-6) for k in before)  # started from the adapter


def test_tunes_from_compose_are_kept_and_an_abc_model_learns_from_its_favourites(isolated_home, monkeypatch):
    from studio.core.environment import REPO_ROOT
    from studio.services.compose import compose, is_abc_model
    from studio.services.gallery import gallery_item

    monkeypatch.setenv("STUDIO_CHECKPOINTS", str(REPO_ROOT / "checkpoints"))  # folk-abc-char composes
    tunes = [compose("folk-abc-char", bars=2, seed=s, player="synth") for s in (1, 2)]
    for tune in tunes:
        record = gallery_item(tune.gallery_id)
        assert record["kind"] == "music" and record["model"] == "folk-abc-char"
        assert {p.rsplit(".", 1)[-1] for p in record["files"]} >= {"wav", "abc", "mid", "svg", "txt"}
        assert record["text"] == tune.abc and record["parameters"]["seed"] == tune.parameters["seed"]
        rate(tune.gallery_id, favourite=True)

    ids = sorted(t.gallery_id for t in tunes)
    result = train_on_favourites("folk-abc-char", "folk-favourites", steps=3, mix=1.0, start=False)
    assert sorted(result["gallery_items"]) == ids
    assert load_file(str(jobs.job_dir(result["job"]) / "data.safetensors"))["train"].numel() > 0
    assert _finish(result) == "completed"

    listed = {m["name"]: m for m in list_models()}
    assert listed["folk-favourites"]["family"] == "text"
    assert is_abc_model("folk-favourites")  # still a model Compose can use
    made = compose("folk-favourites", bars=2, seed=3, player="synth")
    assert made.abc.strip() and gallery_item(made.gallery_id)["model"] == "folk-favourites"
    record = default_registry().get("folk-favourites")
    assert sorted(record.meta["training"]["gallery_items"]) == ids
    assert record.meta["training"]["start_from"] == "folk-abc-char"
    card = (record.path / "README.md").read_text()
    assert all(item in card for item in ids) and "folk-abc-char" in card
