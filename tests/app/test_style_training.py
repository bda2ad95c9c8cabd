"""Style networks trained through the shared loop, saved in the registry, then used by /stylize."""
from __future__ import annotations

import json
import time

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from studio.core.media import read_png_parameters
from studio.data.examples import installed_image


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("style-train") / "coffee.png"
    im = installed_image("coffee").load()
    im.thumbnail((200, 200))
    im.save(path)
    return path


def wait_for(client, job: str, timeout: float = 600) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        status = client.predict(job=job, api_name="/job_status")[0]
        if status["state"] in ("completed", "failed", "cancelled"):
            return status
        time.sleep(1)
    raise AssertionError(f"job {job} did not finish; last status {status}")


def test_train_a_per_style_network_in_the_background_and_use_it(client, photo, tmp_path):
    style = tmp_path / "brick.png"
    installed_image("brick").load().resize((128, 128)).save(style)
    job, status = client.predict(name="test-brick", style=handle_file(str(style)),
                                 content_files=[handle_file(str(photo))], steps=2, image_size=64,
                                 api_name="/train_style")
    final = wait_for(client, job)
    assert final["state"] == "completed", final
    info, card, _ = client.predict(name="test-brick", api_name="/model_info")
    assert info["family"] == "style" and info["kind"] == "style"
    assert "model.safetensors" in info["files"] and "samples.png" in info["files"]
    assert "/stylize" in card and "/generate" not in card  # the card shows how to use a style model
    # Applied in one pass, tiled above the tile size, with the strength blending toward the content.
    png, params = client.predict(content=handle_file(str(photo)), style=None, method="test-brick", size=900,
                                 steps=1, strength=0.5, api_name="/stylize")
    assert params["method"] == "network" and params["style_model"] == "test-brick"
    assert max(Image.open(png).size) == 900 and read_png_parameters(png)["weights"] == params["weights"]
    with pytest.raises(AppError, match="one style built in"):
        client.predict(content=handle_file(str(photo)), style=None, method="test-brick",
                       styles=[handle_file(str(style))], size=64, api_name="/stylize")


def test_train_an_adain_decoder_through_the_shared_loop_and_use_it(client, photo):
    from studio.core import jobs
    from studio.services.training import start_training
    from studio.train import run

    made = start_training("adain", "test-adain", content=["chelsea"], styles=["brick", "gravel"],
                                image_size=64, steps=2, batch_size=2, start=False)
    folder = jobs.job_dir(made["job"])
    assert (folder / "data.safetensors").is_file()
    assert run(folder) == "completed"
    meta = json.loads((folder.parent.parent / "models" / "test-adain" / "studio.json").read_text())
    assert meta["family"] == "adain" and meta["config"]["layer"] == "block5_expanded"
    png, params = client.predict(content=handle_file(str(photo)), style=handle_file(str(photo)),
                                 method="test-adain", size=96, strength=0.7, preserve_colors=True,
                                 api_name="/stylize")
    assert params["method"] == "adain" and params["style_model"] == "test-adain"
    assert max(Image.open(png).size) == 96


@pytest.mark.parametrize("kwargs,message", [
    ({"name": "x y", "style": "brick"}, "not allowed"),
    ({"name": "no-style", "style": None}, "upload the style image"),
    ({"name": "bad-steps", "style": "brick", "steps": 0}, "steps must be between 1"),
])
def test_train_style_refuses_bad_requests(client, tmp_path, kwargs, message):
    if kwargs["style"]:
        path = tmp_path / "s.png"
        installed_image(kwargs["style"]).load().resize((64, 64)).save(path)
        kwargs = {**kwargs, "style": handle_file(str(path))}
    with pytest.raises(AppError, match=message):
        client.predict(**{"steps": 2, "image_size": 64, **kwargs}, api_name="/train_style")


def test_per_style_networks_also_train_from_the_train_endpoint(client, photo, tmp_path):
    style = tmp_path / "gravel.png"
    installed_image("gravel").load().resize((96, 96)).save(style)
    job, report, status = client.predict(family="style", name="train-tab-gravel", files=[handle_file(str(photo))],
                                         style=handle_file(str(style)), image_size=64, steps=2, batch_size=1,
                                         api_name="/train")
    assert "content crops" in report and "gravel" in report
    assert wait_for(client, job)["state"] == "completed"
    assert client.predict(name="train-tab-gravel", api_name="/model_info")[0]["family"] == "style"
    png, params = client.predict(content=handle_file(str(photo)), method="train-tab-gravel", size=64,
                                 api_name="/stylize")
    assert params["style_model"] == "train-tab-gravel" and Image.open(png).format == "PNG"


@pytest.mark.parametrize("kwargs,message", [
    ({"family": "style", "name": "no-style"}, "upload the style image"),
    ({"family": "style", "name": "digits-style", "builtin": "digits", "style": "STYLE"}, "learn from photos"),
    ({"family": "vae", "name": "vae-with-style", "builtin": "digits", "style": "STYLE"}, "only applies to family"),
])
def test_train_refuses_style_images_where_they_do_not_belong(client, tmp_path, kwargs, message):
    style = tmp_path / "s.png"
    installed_image("brick").load().resize((64, 64)).save(style)
    if kwargs.get("style") == "STYLE":
        kwargs = {**kwargs, "style": handle_file(str(style))}
    with pytest.raises(AppError, match=message):
        client.predict(api_name="/train", **{"image_size": 64, "steps": 2, **kwargs})
