"""The Style tab's endpoints through the real app: every method, blends, masks, colours, and bad input."""
from __future__ import annotations

import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from studio.core.media import read_png_parameters
from studio.data.examples import installed_image


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Real photos and textures (scikit-image) as files, plus awkward inputs."""
    folder = tmp_path_factory.mktemp("style-inputs")
    out = {}
    for name in ("chelsea", "brick", "gravel"):
        im = installed_image(name).load()
        im.thumbnail((160, 160))
        out[name] = folder / f"{name}.png"
        im.save(out[name])
    chelsea = Image.open(out["chelsea"])
    out["grey"] = folder / "grey.png"
    chelsea.convert("L").save(out["grey"])
    out["rgba"] = folder / "rgba.png"
    rgba = chelsea.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgba.size))
    rgba.save(out["rgba"])
    out["tiny"] = folder / "tiny.png"
    Image.open(out["brick"]).resize((8, 8)).save(out["tiny"])
    out["huge"] = folder / "huge.png"
    Image.new("RGB", (8000, 8000), (200, 120, 40)).save(out["huge"], optimize=False, compress_level=1)
    out["mask"] = folder / "mask.png"
    mask = Image.new("L", (chelsea.width * 2, chelsea.height * 2), 0)  # same proportions, another size
    mask.paste(255, (0, 0, chelsea.width, chelsea.height * 2))
    mask.save(out["mask"])
    out["square_mask"] = folder / "square-mask.png"
    Image.new("L", (50, 50), 255).save(out["square_mask"])
    out["text"] = folder / "notes.png"
    out["text"].write_text("this is not an image")
    return out


def stylize(client, content, style, **kw):
    args = {"content": handle_file(str(content)), "style": handle_file(str(style)) if style else None,
            "size": 64, "steps": 2, "seed": 0, **kw}
    png, params = client.predict(**args, api_name="/stylize")
    return png, params


def test_stylize_is_public_with_parameters_in_order(client):
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    names = [p["parameter_name"] for p in api["/stylize"]["parameters"]]
    assert names == ["content", "style", "method", "styles", "style_weights", "strength", "size", "steps",
                     "preserve_colors", "mask", "seed"]
    assert "/train_style" in api


def test_optimisation_returns_a_png_with_its_parameters(client, images):
    png, params = stylize(client, images["chelsea"], images["brick"], method="optimization")
    assert params["method"] == "optimization" and params["steps"] == 2
    assert params["feature_network"] in ("vgg19", "efficientnet-lite0")
    with Image.open(png) as im:
        assert im.format == "PNG" and max(im.size) == 64
    assert read_png_parameters(png)["content"] == params["content"]


def test_grey_and_transparent_content_are_handled(client, images):
    png, params = stylize(client, images["grey"], images["brick"], method="optimization")
    assert Image.open(png).mode == "RGB"
    png, _ = stylize(client, images["rgba"], images["brick"], method="optimization")
    with Image.open(png) as im:
        assert im.mode == "RGBA"
        alpha = np.asarray(im.getchannel("A"))
        assert alpha[0].mean() < 40 and alpha[-1].mean() > 215  # the content's transparency is kept


def test_blend_weights_are_normalised_and_the_mask_is_resized(client, images):
    _, params = stylize(client, images["chelsea"], images["brick"], method="optimization",
                        styles=[handle_file(str(images["gravel"]))], style_weights="3, 1",
                        mask=handle_file(str(images["mask"])), preserve_colors=True)
    assert params["style_weights"] == [0.75, 0.25] and params["mask"] and params["preserve_colors"]


def test_a_huge_style_image_is_scaled_down_with_a_note(client, images):
    _, params = stylize(client, images["chelsea"], images["huge"], method="optimization", steps=1)
    assert any("scaled down from 8000x8000" in n for n in params["notes"])


@pytest.mark.parametrize("key,kw,message", [
    ("tiny", {}, "only 8x8 px"),
    ("text", {}, "not an image"),
    ("brick", {"steps": 0}, "steps must be between 1"),
    ("brick", {"style_weights": "1, -1", "styles": "gravel"}, "cannot be negative"),
    ("brick", {"style_weights": "1, 2, 3"}, "1 style image(s) but 3 weight(s)"),
    ("brick", {"mask": "square_mask"}, "proportions"),
    ("brick", {"method": "no-such-method"}, "unknown method"),
    ("brick", {"strength": 2}, "strength must be between 0 and 1"),
])
def test_bad_requests_get_clear_messages(client, images, key, kw, message):
    for name in ("styles", "mask"):
        if name in kw:
            value = handle_file(str(images[kw[name]]))
            kw = {**kw, name: [value] if name == "styles" else value}
    with pytest.raises(AppError, match=message.replace("(", r"\(").replace(")", r"\)")):
        stylize(client, images["chelsea"], images[key], method=kw.pop("method", "optimization"), **kw)


def test_a_non_image_content_file_is_refused(client, images):
    with pytest.raises(AppError, match="content file 'notes.png' is not an image"):
        stylize(client, images["text"], images["brick"], method="optimization")


def test_the_app_keeps_serving_after_errors(client, images):
    with pytest.raises(AppError):
        stylize(client, images["chelsea"], images["tiny"], method="optimization")
    png, _ = stylize(client, images["chelsea"], images["brick"], method="optimization", steps=1)
    assert Image.open(png).size[0] == 64
