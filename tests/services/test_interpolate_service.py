"""The interpolation service on a tiny VAE in a temporary registry: frames, GIF, MP4, sheet, bad input."""
import json
import subprocess

import imageio.v3 as iio
import imageio_ffmpeg
import numpy as np
import pytest
import torch
from PIL import Image

from studio.core.errors import StudioError
from studio.core.media import read_png_parameters
from studio.core.seeds import parse_seeds
from studio.families.vae import ConvVAE
from studio.services.generate import generate
from studio.services.interpolate import interpolate
from studio.services.models import save_model


@pytest.fixture(scope="module")
def vae_model(module_home):
    """A 16 px grey VAE with fixed random weights, saved in a temporary STUDIO_HOME."""
    torch.manual_seed(0)
    config = {"image_size": 16, "channels": 1, "latent_dim": 8, "base_width": 8, "max_width": 32}
    save_model("tiny-vae", "vae", ConvVAE(**config).eval(),
               {"config": config, "shapes": {"image_size": 16, "channels": 1}})
    return "tiny-vae"


def pixels(path):
    with Image.open(path) as im:
        return np.asarray(im.convert("L"))


def test_frame_at_each_seed_is_the_generated_image(vae_model, tmp_path):
    result = interpolate(vae_model, seeds="11, 42, 7", frames=3, size=16, out_dir=tmp_path / "a")
    assert len(result.frames) == 7
    for k, seed in enumerate((11, 42, 7)):
        made = generate(vae_model, count=1, seed=seed, out_dir=tmp_path / f"g{seed}")
        assert np.array_equal(pixels(result.frames[3 * k]), pixels(made.files[0]))
    assert not np.array_equal(pixels(result.frames[1]), pixels(result.frames[0]))
    params = read_png_parameters(result.frames[4])
    assert params["model"] == vae_model and params["frame"] == 4 and params["position"] == pytest.approx(4 / 3)
    assert params["keyframes"] == [{"seed": 11}, {"seed": 42}, {"seed": 7}]
    assert params["temperature"] == 1.0


def test_outputs_gif_mp4_sheet_sidecar(vae_model, tmp_path):
    seen = []
    result = interpolate(vae_model, seeds=[3, 4], frames=4, loop=True, fps=10, size=64, resample="lanczos",
                         easing="ease-in-out", out_dir=tmp_path, progress=lambda f, text: seen.append(f))
    assert len(result.frames) == 8 and seen[-1] == 1.0 and seen == sorted(seen)
    with Image.open(result.frames[0]) as im:
        assert im.size == (64, 64)
    gif = iio.imread(result.gif, index=None)
    assert gif.shape[:3] == (8, 64, 64)
    with Image.open(result.gif) as im:
        assert im.info["loop"] == 0 and im.info["duration"] == 100
        assert json.loads(im.info["comment"])["fps"] == 10
    n_frames, seconds = imageio_ffmpeg.count_frames_and_secs(str(result.mp4))
    assert n_frames == 8 and seconds == pytest.approx(0.8, abs=0.11)
    probe = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(result.mp4)],
                           capture_output=True, text=True).stderr
    assert "h264" in probe and "yuv420p" in probe and "64x64" in probe and '"fps": 10' in probe
    sidecar = json.loads(result.sidecar.read_text())
    assert sidecar["loop"] is True and sidecar["total_frames"] == 8 and sidecar["easing"] == "ease-in-out"
    with Image.open(result.sheet) as im:
        assert im.width > 7 * im.height  # one row of frames
    assert result.zip.stat().st_size > 0


def test_random_walk_loop(vae_model, tmp_path):
    result = interpolate(vae_model, seeds="5", walk_frames=6, size=16, out_dir=tmp_path)
    assert len(result.frames) == 6 and result.parameters["walk_frames"] == 6
    again = interpolate(vae_model, seeds="5", walk_frames=6, size=16, out_dir=tmp_path / "again")
    assert all(np.array_equal(pixels(a), pixels(b)) for a, b in zip(result.frames, again.frames))


def test_own_images_as_keyframes(vae_model, tmp_path):
    # Unequal sizes, colour with alpha, and grey: all brought to the model's 16x16 grey.
    Image.new("RGBA", (40, 30), (200, 30, 30, 255)).save(tmp_path / "red.png")
    Image.fromarray((np.indices((20, 20)).sum(0) % 2 * 255).astype(np.uint8)).save(tmp_path / "check.png")
    result = interpolate(vae_model, seeds="", images=[str(tmp_path / "red.png"), str(tmp_path / "check.png")],
                         frames=2, size=32, out_dir=tmp_path / "out")
    assert len(result.frames) == 3 and len(result.reconstructions) == 2
    original, rebuilt = result.reconstructions[0]
    assert Image.open(original).size == Image.open(rebuilt).size == (32, 32)
    assert any("red.png" in n and "converted to grey" in n and "40x30" in n for n in result.notes)
    key = result.parameters["keyframes"][0]
    assert key["image"] == "red.png" and key["encoding"] == "encoder" and key["perceptual_distance"] >= 0
    # The first frame is the reconstruction of the first image.
    assert np.array_equal(pixels(result.frames[0]), np.asarray(Image.open(rebuilt).convert("L")))


def test_parse_seeds():
    assert parse_seeds("11, 42 7") == [11, 42, 7]
    assert len(parse_seeds("random")) == 2
    assert parse_seeds("") == []


@pytest.mark.parametrize("kwargs, message", [
    ({"seeds": "11"}, "at least two keyframes"),
    ({"seeds": "11, x"}, "whole number"),
    ({"seeds": "11, -3"}, "between 0 and"),
    ({"frames": 0}, "frames must be between 1 and 240"),
    ({"frames": 10000}, "frames must be between 1 and 240"),
    ({"fps": 0}, "fps must be between 1 and 50"),
    ({"size": 50}, "multiple of 16"),
    ({"method": "cubic"}, "method must be one of"),
    ({"easing": "bounce"}, "easing must be one of"),
    ({"temperature": 5}, "temperature must be between"),
    ({"truncation": 0.5}, "'truncation' is not a setting"),
    ({"seeds": "1, 2, 3, 4, 5, 6, 7, 8, 9", "frames": 200}, "limit is 960"),
    ({"walk_frames": 8, "seeds": ""}, "starts from a seed"),
    ({"walk_frames": 8, "images": ["x.png"]}, "not from images"),
])
def test_bad_input(vae_model, kwargs, message):
    with pytest.raises(StudioError, match=message):
        interpolate(vae_model, **{"seeds": "1, 2", **kwargs})


def test_text_file_as_image(vae_model, tmp_path):
    notes = tmp_path / "notes.png"
    notes.write_text("not really a picture")
    with pytest.raises(StudioError, match="notes.png: not an image file"):
        interpolate(vae_model, seeds="1", images=[str(notes)])


def test_unknown_model():
    with pytest.raises(StudioError, match="no model named"):
        interpolate("nope", seeds="1, 2")
