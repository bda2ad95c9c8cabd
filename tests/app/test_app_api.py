"""The real app, called as a script author would: gradio_client against named endpoints."""
from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from studio.core.media import read_png_parameters
from tests.support.files import digit_pngs, png_bytes, write_zip

SHIPPED_VAE = "digits-vae"
ENDPOINTS = {"/models", "/model_info", "/model_rename", "/model_delete", "/model_export", "/model_import",
             "/generate", "/train", "/job_status", "/job_cancel", "/job_resume", "/jobs", "/reuse_parameters"}


def wait_for(client, job: str, states: set[str], timeout: float = 300) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        status = client.predict(job=job, api_name="/job_status")[0]
        if status["state"] in states:
            return status
        time.sleep(0.5)
    raise AssertionError(f"job {job} did not reach {states}; last status {status}")


def test_public_endpoints_have_stable_names_and_named_parameters(client):
    api = client.view_api(return_format="dict", print_info=False)
    named = api["named_endpoints"]
    assert ENDPOINTS <= set(named)
    assert not [n for n in named if n.startswith("/_")], "internal events must stay off the API page"
    params = {n: [p["parameter_name"] for p in e["parameters"]] for n, e in named.items()}
    assert params["/generate"][:4] == ["model", "count", "seed", "temperature"]
    assert params["/model_rename"] == ["name", "new_name"]
    assert params["/train"][:3] == ["family", "name", "files"]


def test_models_lists_the_shipped_vae_with_its_card(client):
    records = client.predict(api_name="/models")
    vae = next(r for r in records if r["name"] == SHIPPED_VAE)
    assert vae["family"] == "vae" and vae["source"] == "shipped"
    assert client.predict(family="gan-that-does-not-exist", api_name="/models") == []
    info, card, samples = client.predict(name=SHIPPED_VAE, api_name="/model_info")
    assert info["meta"]["dataset"]["count"] == 1797 and "python -m studio train" in card
    assert Image.open(samples).size[0] > 100


def test_generate_returns_pngs_carrying_their_parameters(client):
    gallery, grid, zip_path, params = client.predict(model=SHIPPED_VAE, count=3, seed=11, temperature=0.8,
                                                     api_name="/generate")
    assert [g["caption"] for g in gallery] == ["seed 11", "seed 12", "seed 13"]
    first = gallery[0]["image"]
    assert first.endswith(".png")
    with Image.open(first) as im:
        assert im.format == "PNG" and im.size == (32, 32)
        assert im.text["AI-generated"] == "true"
    embedded = read_png_parameters(first)
    assert embedded["model"] == SHIPPED_VAE and embedded["seed"] == 11 and embedded["temperature"] == 0.8
    assert embedded["weights"] == params["weights"] and embedded["family"] == "vae"
    with zipfile.ZipFile(zip_path) as zf:
        assert len(zf.namelist()) == 3
    assert Image.open(grid).format == "PNG"
    assert client.predict(png=handle_file(first), api_name="/reuse_parameters")["seed"] == 11


def test_the_same_seed_and_settings_give_identical_pixels(client):
    def pixels(**kw):
        gallery = client.predict(model=SHIPPED_VAE, api_name="/generate", **kw)[0]
        return [np.asarray(Image.open(g["image"])) for g in gallery]

    a, b = pixels(count=4, seed=7), pixels(count=4, seed=7)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    alone = pixels(count=1, seed=9)[0]
    assert np.array_equal(alone, a[2])  # image i of a batch is the image its seed gives alone
    assert not np.array_equal(a[0], a[1])


def test_reused_parameters_reproduce_the_image(client):
    gallery, _, _, _ = client.predict(model=SHIPPED_VAE, count=2, seed=-1, temperature=1.3, api_name="/generate")
    params = client.predict(png=handle_file(gallery[1]["image"]), api_name="/reuse_parameters")
    again = client.predict(model=params["model"], count=1, seed=params["seed"], temperature=params["temperature"],
                           api_name="/generate")[0][0]["image"]
    assert np.array_equal(np.asarray(Image.open(again)), np.asarray(Image.open(gallery[1]["image"])))


def test_reused_parameters_name_the_batch_which_reproduces_the_image_exactly(client):
    from studio.ui.generate_tab import _apply_parameters

    # twemoji-faces-gan: some of its images differ by a pixel level when made alone instead of in a batch.
    gallery, _, _, _ = client.predict(model="twemoji-faces-gan", count=3, seed=5, api_name="/generate")
    params = client.predict(png=handle_file(gallery[2]["image"]), api_name="/reuse_parameters")
    assert params["seed"] == 7 and params["batch"] == {"seed": 5, "count": 3, "index": 2}
    again = client.predict(model=params["model"], count=params["batch"]["count"], seed=params["batch"]["seed"],
                           api_name="/generate")[0]
    assert np.array_equal(np.asarray(Image.open(again[2]["image"])), np.asarray(Image.open(gallery[2]["image"])))
    model, count, seed = _apply_parameters(gallery[2]["image"])[:3]  # the Generate tab restores the batch
    assert (model["value"], count["value"], seed["value"]) == ("twemoji-faces-gan", 3, 5)


@pytest.mark.parametrize("kwargs,message", [
    ({"model": "no-such-model"}, "no model named"),
    ({"model": ""}, "choose a model"),
    ({"model": SHIPPED_VAE, "count": 0}, "count must be between 1 and 64"),
    ({"model": SHIPPED_VAE, "count": 65}, "count must be between 1 and 64"),
    ({"model": SHIPPED_VAE, "temperature": 9}, "temperature must be between"),
    ({"model": SHIPPED_VAE, "steps": 50}, "'steps' is not a setting"),
    ({"model": SHIPPED_VAE, "truncation": 0.5}, "'truncation' is not a setting"),
    ({"model": SHIPPED_VAE, "seed": 2**40}, "seed must be between"),
])
def test_generate_refuses_bad_requests_clearly(client, kwargs, message):
    with pytest.raises(AppError, match=message):
        client.predict(api_name="/generate", **kwargs)


def test_reuse_parameters_refuses_foreign_pngs(client, tmp_path):
    plain = tmp_path / "plain.png"
    plain.write_bytes(png_bytes((16, 16)))
    with pytest.raises(AppError, match="no studio parameters"):
        client.predict(png=handle_file(plain), api_name="/reuse_parameters")


def test_train_watch_cancel_resume_and_find_the_model(client, tmp_path):
    paths = digit_pngs(tmp_path / "digits", count=40, size=24)
    junk = tmp_path / "notes.txt"
    junk.write_text("a text file among the images")
    archive = write_zip(tmp_path / "mine.zip", {p.name: p.read_bytes() for p in paths} | {"notes.txt": b"x"})
    job, report, status = client.predict(family="vae", name="api-vae", files=[handle_file(archive)],
                                         image_size=16, color=False, steps=400, batch_size=8, seed=3,
                                         api_name="/train")
    assert "40 images used" in report and "notes.txt" in report
    assert status["state"] in ("starting", "preparing", "running")
    try:
        _cancel_resume_and_finish(client, job)
    finally:
        from tests.conftest import stop_all_jobs
        stop_all_jobs()  # a failure here must not leave a worker that blocks later /train calls


def _cancel_resume_and_finish(client, job: str) -> None:
    running = wait_for(client, job, {"running"})
    while client.predict(job=job, api_name="/job_status")[0].get("step", 0) < 30:
        time.sleep(0.3)
    client.predict(job=job, api_name="/job_cancel")
    cancelled = wait_for(client, job, {"cancelled", "completed"})
    assert cancelled["state"] == "cancelled", "the job finished before cancel; make it longer"
    stopped_at = cancelled["step"]
    assert 0 < stopped_at < 400 and running["steps"] == 400
    assert not any(r["name"] == "api-vae" for r in client.predict(api_name="/models"))

    status, losses, sample, summary = client.predict(job=job, api_name="/job_status")
    assert "cancelled" in summary and Path(sample).suffix == ".png"
    assert losses["columns"] == ["step", "loss", "value"]
    assert {"loss", "reconstruction", "kl"} == {row[1] for row in losses["data"]}
    assert max(row[0] for row in losses["data"]) <= stopped_at
    with pytest.raises(AppError, match="is not running"):
        client.predict(job=job, api_name="/job_cancel")

    client.predict(job=job, api_name="/job_resume")
    done = wait_for(client, job, {"completed", "failed"})
    assert done["state"] == "completed", done
    assert done["step"] == 400
    record = next(r for r in client.predict(api_name="/models") if r["name"] == "api-vae")
    assert record["source"] == "user" and record["image_size"] == 16
    assert any(j["job"] == job for j in client.predict(api_name="/jobs"))
    gallery = client.predict(model="api-vae", count=2, seed=0, api_name="/generate")[0]
    assert Image.open(gallery[0]["image"]).size == (16, 16)
    with pytest.raises(AppError, match="has completed"):
        client.predict(job=job, api_name="/job_resume")


def test_train_on_the_builtin_digits_in_colour(client):
    job, report, _ = client.predict(family="vae", name="api-builtin", builtin="digits", image_size=16, color=True,
                                    steps=20, batch_size=16, api_name="/train")
    assert "1797 images used" in report
    assert wait_for(client, job, {"completed", "failed"})["state"] == "completed"
    info = client.predict(name="api-builtin", api_name="/model_info")[0]
    assert info["channels"] == 3 and info["meta"]["recipe"]["steps"] == 20


@pytest.mark.parametrize("kwargs,message", [
    ({"name": "", "builtin": "digits"}, "give the model a name"),
    ({"name": "../../etc", "builtin": "digits"}, "not allowed"),
    ({"name": SHIPPED_VAE, "builtin": "digits"}, "already exists"),
    ({"name": "ok-name"}, "give exactly one data source"),
    ({"name": "ok-name", "builtin": "imagenet"}, "unknown built-in data set 'imagenet'; choose one of digits"),
    ({"name": "ok-name", "builtin": "digits", "family": "transformer"}, "unknown model family 'transformer'"),
    ({"name": "ok-name", "builtin": "digits", "image_size": 128}, "image sizes 16, 32, 64"),
    ({"name": "ok-name", "builtin": "digits", "steps": 0}, "steps must be between"),
    ({"name": "ok-name", "builtin": "digits", "batch_size": 0}, "batch_size must be between"),
    ({"name": "ok-name", "builtin": "digits", "learning_rate": -1}, "learning_rate"),
])
def test_train_refuses_bad_requests_clearly(client, kwargs, message):
    with pytest.raises(AppError, match=message):
        client.predict(api_name="/train", **{"family": "vae", "steps": 10, **kwargs})


def test_train_refuses_uploads_without_images(client, tmp_path):
    texts = write_zip(tmp_path / "texts.zip", {"a.txt": b"hello", "b.md": b"# hi"})
    with pytest.raises(AppError, match="no usable images"):
        client.predict(family="vae", name="nothing", files=[handle_file(texts)], steps=10, api_name="/train")
    empty = write_zip(tmp_path / "empty.zip", {})
    with pytest.raises(AppError, match="no usable images"):
        client.predict(family="vae", name="nothing", files=[handle_file(empty)], steps=10, api_name="/train")


def test_job_endpoints_refuse_unknown_jobs(client):
    for endpoint in ("/job_status", "/job_cancel", "/job_resume"):
        with pytest.raises(AppError, match="no training job|not a job id"):
            client.predict(job="../../etc/passwd" if endpoint == "/job_status" else "nope", api_name=endpoint)


def test_rename_export_import_delete(client, tmp_path):
    from studio.core.registry import default_registry
    from tests.support.files import save_tiny_vae

    save_tiny_vae(default_registry(), "api-manage")
    renamed = client.predict(name="api-manage", new_name="api-managed", api_name="/model_rename")
    assert renamed["name"] == "api-managed"
    exported = client.predict(name="api-managed", api_name="/model_export")
    assert exported.endswith("api-managed.zip")
    with zipfile.ZipFile(exported) as zf:
        assert "api-managed/studio.json" in zf.namelist()
        meta = json.loads(zf.read("api-managed/studio.json"))
    assert meta["name"] == "api-managed"
    imported = client.predict(file=handle_file(exported), name="api-copy", api_name="/model_import")
    assert imported["name"] == "api-copy" and imported["family"] == "vae"
    assert client.predict(name="api-copy", api_name="/model_delete") == "deleted api-copy"
    names = {r["name"] for r in client.predict(api_name="/models")}
    assert "api-managed" in names and "api-copy" not in names and "api-manage" not in names


@pytest.mark.parametrize("kwargs,message", [
    ({"name": SHIPPED_VAE, "new_name": "mine"}, "read-only"),
    ({"name": "no-such", "new_name": "x"}, "no model named"),
])
def test_rename_refusals(client, kwargs, message):
    with pytest.raises(AppError, match=message):
        client.predict(api_name="/model_rename", **kwargs)


def test_delete_and_import_refusals(client, tmp_path):
    with pytest.raises(AppError, match="read-only"):
        client.predict(name=SHIPPED_VAE, api_name="/model_delete")
    pickled = write_zip(tmp_path / "pickled.zip", {"m/studio.json": b"{}", "m/model.pt": b"\x80\x04."})
    with pytest.raises(AppError, match="pickle"):
        client.predict(file=handle_file(pickled), api_name="/model_import")
    slip = write_zip(tmp_path / "slip.zip", {"../../evil.json": b"{}"})
    with pytest.raises(AppError, match="outside"):
        client.predict(file=handle_file(slip), api_name="/model_import")
    exported = client.predict(name=SHIPPED_VAE, api_name="/model_export")
    with pytest.raises(AppError, match="not allowed"):
        client.predict(file=handle_file(exported), name="bad/name", api_name="/model_import")
    with pytest.raises(AppError, match="already exists"):
        client.predict(file=handle_file(exported), api_name="/model_import")
