"""The gallery through the real app, as a script author would use it: /generate fills it, /gallery filters
it, /rate and /gallery_delete change it, /originality checks an item, and /train_on_favourites runs a real
background job that makes a new, listed model."""
from __future__ import annotations

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from tests.app.test_app_api import wait_for
from tests.support.files import digit_pngs, write_zip

MODEL = "gallery-app-vae"
GALLERY_ENDPOINTS = {"/gallery", "/gallery_item", "/rate", "/gallery_delete", "/originality",
                     "/train_on_favourites"}


@pytest.fixture(scope="module")
def model(client, tmp_path_factory):
    """A VAE trained by the app on 24 uploaded handwritten digits (16 px, a few steps): its job keeps the
    training images, which the originality check compares with."""
    folder = tmp_path_factory.mktemp("gallery-upload")
    pngs = digit_pngs(folder / "digits", count=24, size=16)
    archive = write_zip(folder / "digits.zip", {p.name: p.read_bytes() for p in pngs})
    job, _, _ = client.predict("vae", MODEL, [handle_file(str(archive))], None, 16, False, 3, 8, None, 0,
                               "crop", "white", False, api_name="/train")
    assert wait_for(client, job, {"completed", "failed"})["state"] == "completed"
    return {"name": MODEL, "training_png": str(pngs[5])}


def _items(client, **filters) -> list[dict]:
    return client.predict(model=MODEL, api_name="/gallery", **filters)


def test_the_gallery_endpoints_are_public_with_named_parameters(client):
    named = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert GALLERY_ENDPOINTS <= set(named)
    params = {n: [p["parameter_name"] for p in named[n]["parameters"]] for n in GALLERY_ENDPOINTS}
    assert params["/rate"] == ["item", "stars", "favourite"]
    assert params["/gallery"] == ["kind", "model", "min_rating", "favourites", "since", "until"]
    assert params["/originality"] == ["model", "image", "item"]
    assert params["/train_on_favourites"] == ["model", "name", "steps", "mix", "items"]


def test_generate_rate_filter_download_and_delete(client, model):
    client.predict(model=MODEL, count=4, seed=21, api_name="/generate")
    items = _items(client)
    assert [r["seed"] for r in items] == [24, 23, 22, 21] and all(r["kind"] == "generate" for r in items)
    first, second, third, fourth = items[::-1]
    assert client.predict(item=first["id"], stars=4, api_name="/rate")["rating"] == 4
    assert client.predict(item=first["id"], favourite=True, api_name="/rate")["rating"] == 4
    client.predict(item=third["id"], stars=2, favourite=True, api_name="/rate")
    favourites = _items(client, favourites=True)
    assert sorted(r["id"] for r in favourites) == sorted([first["id"], third["id"]])
    assert [r["id"] for r in _items(client, min_rating=3)] == [first["id"]]
    assert _items(client, kind="write") == []

    record, files = client.predict(item=second["id"], api_name="/gallery_item")
    assert record["seed"] == 22 and Image.open(files[0]).size == (16, 16)
    assert "deleted" in client.predict(item=second["id"], api_name="/gallery_delete")
    assert second["id"] not in {r["id"] for r in _items(client)}

    for bad, why in (({"item": "../../etc/passwd", "stars": 1}, "no path parts"),
                     ({"item": second["id"], "stars": 1}, "no gallery item"),
                     ({"item": fourth["id"], "stars": 6}, "stars must be between 0 and 5"),
                     ({"item": fourth["id"], "stars": 1.5}, "stars must be a whole number")):
        with pytest.raises(AppError, match=why):
            client.predict(api_name="/rate", **bad)
    with pytest.raises(AppError, match="kind must be one of"):
        client.predict(kind="sculpture", api_name="/gallery")


def test_originality_of_a_training_image_and_of_a_generated_one(client, model):
    report, nearest = client.predict(model=MODEL, image=handle_file(model["training_png"]), api_name="/originality")
    assert report["near_copy"] is True and report["pixel_distance"] < 0.01
    assert report["training_images"] == 24 and "training job" in report["training_source"]
    assert len(nearest) == 4
    item = _items(client)[0]
    report, _ = client.predict(item=item["id"], api_name="/originality")
    assert report["model"] == MODEL and report["near_copy"] is False
    with pytest.raises(AppError, match="either an image or a gallery item"):
        client.predict(model=MODEL, api_name="/originality")


def test_train_on_two_favourites_makes_a_listed_model(client, model):
    favourites = [r["id"] for r in _items(client, favourites=True)]
    assert len(favourites) == 2
    job, status = client.predict(model=MODEL, name="gallery-app-favourites", steps=2, mix=0.5,
                                 api_name="/train_on_favourites")
    assert sorted(status["gallery_items"]) == sorted(favourites)
    assert wait_for(client, job, {"completed", "failed"})["state"] == "completed"
    assert "gallery-app-favourites" in {m["name"] for m in client.predict(api_name="/models")}
    info, card, _ = client.predict(name="gallery-app-favourites", api_name="/model_info")
    assert sorted(info["meta"]["training"]["gallery_items"]) == sorted(favourites)
    assert all(item in card for item in favourites)

    with pytest.raises(AppError, match="mix must be above 0"):
        client.predict(model=MODEL, name="nope", mix=0, api_name="/train_on_favourites")
    with pytest.raises(AppError, match="has no favourites in the gallery yet"):
        client.predict(model="digits-gan", name="nope", api_name="/train_on_favourites")
    with pytest.raises(AppError, match="a model learns only from its own favourites"):
        client.predict(model="digits-gan", name="nope", items=favourites[0], api_name="/train_on_favourites")


def test_each_tab_returns_its_gallery_id_for_rate(client, model, tmp_path):
    *_, info = client.predict(model=MODEL, seeds="3, 4", frames=2, api_name="/interpolate")
    animation = info["gallery_id"]
    assert client.predict(item=animation, stars=2, api_name="/rate")["kind"] == "interpolate"
    big = tmp_path / "digit-64.png"  # style images need at least 32 px of texture
    Image.open(model["training_png"]).convert("RGB").resize((64, 64)).save(big)
    digit = handle_file(str(big))
    png, params = client.predict(content=digit, style=digit, size=64, steps=2, seed=0, api_name="/stylize")
    picture = params["gallery_id"]
    client.predict(item=picture, favourite=True, api_name="/rate")
    _, _, _, info = client.predict(model=MODEL, count=2, seed=90, api_name="/generate")
    assert len(info["gallery_ids"]) == 2
    rated = {r["id"]: r for r in client.predict(min_rating=2, api_name="/gallery")}
    assert rated[animation]["rating"] == 2
    assert picture in {r["id"] for r in client.predict(favourites=True, kind="style", api_name="/gallery")}
