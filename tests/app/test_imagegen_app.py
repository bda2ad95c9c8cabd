"""Through the real app with gradio_client: train a tiny GAN and a tiny diffusion model from an uploaded zip
via /train, then generate from them via /generate, including the requests each family must refuse."""
from __future__ import annotations

import time
import zipfile

import pytest
from PIL import Image

from tests.support.files import digit_pngs, write_zip


def _zip_of_images(folder) -> str:
    """Twelve real handwritten digits as PNGs, and a text file the report must list as skipped."""
    paths = digit_pngs(folder / "digits", count=12)
    members = {f"art/{p.name}": p.read_bytes() for p in paths}
    members["art/notes.txt"] = b"not an image"
    return str(write_zip(folder / "art.zip", members))


def _train_and_wait(client, family: str, name: str, archive: str, size: int) -> dict:
    from gradio_client import handle_file

    job, report, status = client.predict(family, name, [handle_file(archive)], None, size, True, 2, 4, None, 0,
                                         "crop", "white", False, api_name="/train")
    assert "12 images used" in report and "notes.txt" in report
    deadline = time.monotonic() + 600  # a safety stop for a hung worker, not a speed check
    while time.monotonic() < deadline:
        status = client.predict(job["value"] if isinstance(job, dict) else job, api_name="/job_status")[0]
        if status["state"] in ("completed", "failed", "cancelled"):
            break
        time.sleep(1)
    assert status["state"] == "completed", status
    return status


@pytest.fixture(scope="module")
def trained_models(client, tmp_path_factory):
    archive = _zip_of_images(tmp_path_factory.mktemp("upload"))
    _train_and_wait(client, "gan", "app-tiny-gan", archive, 32)
    _train_and_wait(client, "diffusion", "app-tiny-diffusion", archive, 16)
    return ["app-tiny-gan", "app-tiny-diffusion"]


def _generate(client, model, count=3, seed=5, truncation=None, sampler=None, steps=None, eta=None):
    return client.predict(model, count, seed, None, truncation, sampler, steps, eta, api_name="/generate")


def test_generate_from_an_app_trained_gan(client, trained_models):
    gallery, grid, archive, info = _generate(client, "app-tiny-gan", truncation=0.7)
    assert info["family"] == "gan" and info["truncation"] == 0.7 and info["seeds"] == [5, 6, 7]
    files = [item["image"] if isinstance(item, dict) else item[0] for item in gallery]
    first = Image.open(files[0] if isinstance(files[0], str) else files[0]["path"])
    assert first.size == (32, 32) and first.mode == "RGB"


def test_generate_from_an_app_trained_diffusion_model(client, trained_models):
    _, grid, archive, info = _generate(client, "app-tiny-diffusion", count=2, sampler="dpm++", steps=10)
    assert info["family"] == "diffusion" and info["sampler"] == "dpm++" and info["steps"] == 10
    with zipfile.ZipFile(archive) as zf:
        assert len(zf.namelist()) == 2


def test_each_family_refuses_the_others_settings_and_bad_steps(client, trained_models):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="'steps' is not a setting of generative adversarial network"):
        _generate(client, "app-tiny-gan", steps=25)
    with pytest.raises(AppError, match="'truncation' is not a setting of diffusion model"):
        _generate(client, "app-tiny-diffusion", truncation=0.5)
    for steps in (0, 100000):
        with pytest.raises(AppError, match=f"steps must be between 10 and 1000; got {steps}"):
            _generate(client, "app-tiny-diffusion", steps=steps)
    # ...and the app keeps serving.
    assert _generate(client, "app-tiny-diffusion", count=1, sampler="ddim", steps=10)[3]["steps"] == 10
