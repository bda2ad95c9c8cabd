"""The Interpolate tab's endpoints through the real app, called with gradio_client."""
from __future__ import annotations

import json

import imageio_ffmpeg
import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from studio.core.media import read_png_parameters
from tests.support.files import png_bytes

MODEL = "interp-test-vae"  # the `app_vae` fixture's model


@pytest.fixture(scope="module")
def vae(app_vae):
    return app_vae


def grey(path):
    with Image.open(path) as im:
        return np.asarray(im.convert("L"))


def test_endpoints_and_parameter_order(client):
    named = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    params = {n: [p["parameter_name"] for p in e["parameters"]] for n, e in named.items()}
    assert params["/interpolate"][:10] == ["model", "seeds", "images", "frames", "method", "loop", "fps", "easing",
                                           "size", "resample"]
    assert params["/directions"] == ["model"]
    assert params["/move"][:4] == ["model", "seed", "image", "amounts"]


def test_interpolate_two_seeds_gives_frames_gif_mp4(client, vae):
    frames, gif, mp4, sheet, zip_path, pairs, params = client.predict(
        model=vae, seeds="11, 42", frames=4, fps=8, size=16, api_name="/interpolate")
    assert len(frames) == 5 and all(f["image"].endswith(".png") for f in frames)
    # The frame at each seed is exactly the image /generate gives for that seed.
    for index, seed in ((0, 11), (4, 42)):
        gallery, *_ = client.predict(model=vae, count=1, seed=seed, api_name="/generate")
        assert np.array_equal(grey(frames[index]["image"]), grey(gallery[0]["image"]))
    assert read_png_parameters(frames[2]["image"])["frame"] == 2
    with Image.open(gif) as im:
        assert im.n_frames == 5 and im.info["loop"] == 0 and json.loads(im.info["comment"])["fps"] == 8
    video = mp4["video"] if isinstance(mp4, dict) else mp4
    assert imageio_ffmpeg.count_frames_and_secs(video)[0] == 5
    assert params["keyframes"] == [{"seed": 11}, {"seed": 42}] and params["total_frames"] == 5
    assert Image.open(sheet).width > Image.open(sheet).height and pairs == []


@pytest.mark.parametrize("model,size,settings", [("digits-gan", 32, {"truncation": 0.8}),
                                                 ("digits-diffusion", 16, {"sampler": "ddim", "steps": 10})])
def test_the_frame_at_a_seed_is_generates_image_for_gan_and_diffusion(client, model, size, settings):
    # `size` is the model's own, so the frames are not resized and compare pixel for pixel.
    frames, *_, params = client.predict(model=model, seeds="5, 8", frames=2, size=size, api_name="/interpolate",
                                        **settings)
    assert len(frames) == 3
    for index, seed in ((0, 5), (2, 8)):
        gallery, *_ = client.predict(model=model, count=1, seed=seed, api_name="/generate", **settings)
        assert np.array_equal(grey(frames[index]["image"]), grey(gallery[0]["image"])), (model, seed)
    assert not np.array_equal(grey(frames[1]["image"]), grey(frames[0]["image"]))


def test_interpolate_own_images_shows_reconstructions(client, vae, tmp_path):
    # Unequal sizes and colour (with alpha) for a grey 16 px model: converted and resized, with a note.
    (tmp_path / "a.png").write_bytes(png_bytes((40, 24), "RGBA", seed=1))
    (tmp_path / "b.png").write_bytes(png_bytes((20, 20), "L", seed=2))
    frames, gif, mp4, sheet, zip_path, pairs, params = client.predict(
        model=vae, seeds="5", images=[handle_file(tmp_path / "a.png"), handle_file(tmp_path / "b.png")],
        frames=2, loop=True, size=32, api_name="/interpolate")
    assert len(frames) == 6 and len(pairs) == 4
    assert "yours" in pairs[0]["caption"] and "distance" in pairs[1]["caption"]
    assert [k.get("encoding") for k in params["keyframes"]] == [None, "encoder", "encoder"]
    assert any("converted to grey" in n and "40x24" in n for n in params["notes"])


def test_random_walk_from_one_seed(client, vae):
    frames, *_, params = client.predict(model=vae, seeds="7", walk_frames=5, size=16, api_name="/interpolate")
    assert len(frames) == 5 and params["walk_frames"] == 5


@pytest.mark.parametrize("kwargs, message", [
    ({"seeds": "11"}, "at least two keyframes"),
    ({"frames": 0}, "frames must be between 1 and 240"),
    ({"frames": 10000}, "frames must be between 1 and 240"),
    ({"fps": 0}, "fps must be between 1 and 50"),
    ({"seeds": "11, abc"}, "whole number"),
    ({"size": 50}, "multiple of 16"),
    ({"model": "no-such-model"}, "no model named"),
])
def test_interpolate_bad_input(client, vae, kwargs, message):
    with pytest.raises(AppError, match=message):
        client.predict(**{"model": vae, "seeds": "11, 42", "frames": 2, "size": 16, **kwargs},
                       api_name="/interpolate")


def test_text_file_as_keyframe_image(client, vae, tmp_path):
    fake = tmp_path / "poem.png"
    fake.write_text("roses are red")
    with pytest.raises(AppError, match="poem.png: not an image file"):
        client.predict(model=vae, seeds="1", images=[handle_file(fake)], frames=2, api_name="/interpolate")
    # The app keeps serving.
    assert len(client.predict(model=vae, seeds="1, 2", frames=1, size=16, api_name="/interpolate")[0]) == 2


def test_directions_and_move(client, vae, tmp_path):
    info = client.predict(model=vae, api_name="/directions")
    assert info["directions"] >= 1 and len(info["explained"]) == info["directions"]
    still, _ = client.predict(model=vae, seed=3, amounts="0", size=16, api_name="/move")
    moved, params = client.predict(model=vae, seed=3, amounts="3, -2", size=16, api_name="/move")
    assert params["directions"] == [3.0, -2.0] and not np.array_equal(grey(still), grey(moved))
    with pytest.raises(AppError, match="between -5 and 5"):
        client.predict(model=vae, seed=3, amounts="9", api_name="/move")
    with pytest.raises(AppError, match="numbers separated by commas"):
        client.predict(model=vae, seed=3, amounts="left", api_name="/move")
