"""Values of the wrong type from scripts, job deletion, refused requests, hostile archives and where outputs
go, through the real app and gradio_client."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from studio.core import jobs
from studio.core.environment import environment
from studio.services import training
from studio.train import run
from tests.support.files import model_zip

REPO = Path(__file__).resolve().parents[2]
VAE = "digits-vae"


@pytest.mark.parametrize("endpoint,kwargs,message", [
    # Gradio 6 rounds 2.5 to 2 in a precision=0 field and fails generically on text; each is refused by name.
    ("/generate", {"model": VAE, "count": 2.5}, "count must be a whole number; got 2.5"),
    ("/generate", {"model": VAE, "count": "abc"}, "count must be a whole number; got 'abc'"),
    ("/generate", {"model": VAE, "count": True}, "count must be a whole number; got True"),
    ("/generate", {"model": VAE, "count": [1]}, "count must be a whole number"),
    ("/generate", {"model": VAE, "seed": "x"}, "seed must be a whole number; got 'x'"),
    ("/generate", {"model": VAE, "seed": 1.5}, "seed must be a whole number; got 1.5"),
    ("/generate", {"model": VAE, "temperature": "warm"}, "temperature must be a number; got 'warm'"),
    ("/generate", {"model": VAE, "temperature": "inf"}, "temperature must be a finite number"),
    ("/write", {"prompt": "The sea", "max_new_tokens": 2.5}, "max_new_tokens must be a whole number; got 2.5"),
    ("/write", {"prompt": "The sea", "top_k": "many"}, "top_k must be a whole number"),
    ("/interpolate", {"model": VAE, "seeds": "1, 2", "frames": "ten"}, "frames must be a whole number"),
    ("/train", {"family": "vae", "name": "typed", "builtin": "digits", "steps": 2.5}, "steps must be a whole number"),
    ("/train", {"family": "vae", "name": "typed", "builtin": "digits", "image_size": "big"},
     "image_size must be a whole number"),
])
def test_values_of_the_wrong_type_are_refused_naming_the_field(client, endpoint, kwargs, message):
    before = {j["job"] for j in training.list_jobs()}
    with pytest.raises(AppError) as caught:
        client.predict(api_name=endpoint, **kwargs)
    assert message in str(caught.value)
    assert "upstream Gradio app" not in str(caught.value)
    assert {j["job"] for j in training.list_jobs()} == before  # a refusal never creates a job


def test_whole_numbers_given_as_text_still_work(client):
    gallery, _, _, params = client.predict(model=VAE, count="2", seed="7", api_name="/generate")
    assert [g["caption"] for g in gallery] == ["seed 7", "seed 8"]


def test_job_delete_endpoint_removes_a_finished_job_and_refuses_others(app, client):
    assert "/job_delete" in client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert any(getattr(b, "elem_id", None) == "train-delete" for b in app.blocks.values())  # the Train tab's button
    out = training.start_training("vae", "to-delete", builtin="digits", image_size=16, steps=3, batch_size=8,
                                  config={"latent_dim": 4, "base_width": 8}, start=False)
    folder = jobs.job_dir(out["job"])
    assert run(folder) == "completed"
    with pytest.raises(AppError, match="no training job"):
        client.predict(job="20990101-000000-nothing-0000", api_name="/job_delete")
    with pytest.raises(AppError, match="is not a job id"):
        client.predict(job="../models", api_name="/job_delete")
    assert "deleted job" in client.predict(job=out["job"], api_name="/job_delete")
    assert not folder.exists()
    assert out["job"] not in {j["job"] for j in client.predict(api_name="/jobs")}
    assert any(m["name"] == "to-delete" for m in client.predict(api_name="/models"))  # its model stays


def test_a_hostile_import_is_refused_without_a_server_path(client, tmp_path):
    archive = model_zip(REPO / "checkpoints" / VAE, tmp_path / "huge.zip",
                        edit={"studio.json": lambda m: m["config"].update(latent_dim=40_000)})
    with pytest.raises(AppError) as caught:
        client.predict(file=handle_file(archive), name="huge", api_name="/model_import")
    message = str(caught.value)
    assert "latent_dim" in message and "/" not in message.replace("/model_import", "")


def test_outputs_are_written_where_gradio_serves_them(client):
    root = environment().outputs_dir
    gradio_dir = Path(os.environ["GRADIO_TEMP_DIR"]).resolve()
    assert gradio_dir in root.parents
    before = set(root.iterdir()) if root.is_dir() else set()
    client.predict(model=VAE, count=2, seed=3, api_name="/generate")
    made = [p for p in root.iterdir() if p not in before]
    assert len(made) == 1 and made[0].name.startswith("generate-")
    assert {p.suffix for p in made[0].iterdir()} == {".png", ".zip"}
