"""The originality check on the shipped digits models: a training image scores as a near copy, a generated
image does not; the nearest training images come back; the requests that must be refused are; a model's
data folder cannot point the server outside the folders it may read."""
from __future__ import annotations

from pathlib import Path

import pytest

from studio.core.environment import REPO_ROOT
from studio.core.errors import StudioError
from studio.core.media import to_pil
from studio.data.images import builtin_images
from studio.services import originality as o
from studio.services.generate import generate
from studio.services.training_data import training_images
from studio.services.write import stream
from tests.support.files import save_tiny_vae


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """A fresh STUDIO_HOME beside the real shipped models (the digits models and fortunes-char), shared by the
    module so the training set's embeddings are computed once per image size."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STUDIO_HOME", str(tmp_path_factory.mktemp("originality") / "home"))
        mp.setenv("STUDIO_CHECKPOINTS", str(REPO_ROOT / "checkpoints"))
        yield


@pytest.mark.parametrize("model, size", [("digits-vae", 32), ("digits-gan", 32), ("digits-diffusion", 16)])
def test_a_training_image_is_a_near_copy_and_a_generated_one_is_not(shipped, tmp_path, model, size):
    real = builtin_images("digits", size, 1).images
    picture = tmp_path / "training-image-100.png"
    to_pil(real[100].float() / 255).save(picture)
    copy, nearest = o.originality(model, image=str(picture))
    assert copy["near_copy"] is True and copy["nearest"][0]["index"] == 100
    assert copy["nearest_distance"] < copy["threshold"] / 10 and copy["pixel_distance"] == 0
    assert len(nearest) == o.NEAREST and all(Path(p).is_file() for p in nearest)
    assert copy["training_images"] == 1797 and "built-in set 'digits'" in copy["training_source"]

    item = generate(model, count=1, seed=0).gallery_ids[0]
    new, _ = o.originality(item=item)  # the item's own model
    assert new["model"] == model and new["item"] == item
    assert new["near_copy"] is False
    assert new["nearest_distance"] > new["threshold"] and new["pixel_distance"] > new["pixel_threshold"]
    assert 0 < new["threshold"] < new["nearest_distance"]


def test_the_embeddings_are_cached_on_disk(shipped):
    from studio.core.environment import environment

    cached = list((environment().home / "cache" / "originality").glob("*.safetensors"))
    assert len(cached) >= 1  # one per training set already checked (32 px and 16 px digits)


def test_bad_requests_are_refused(shipped, tmp_path):
    with pytest.raises(StudioError, match="either an image or a gallery item"):
        o.originality("digits-vae")
    with pytest.raises(StudioError, match="either an image or a gallery item"):
        o.originality("digits-vae", image="x.png", item="20261123-191602-3fa2c1d0")
    with pytest.raises(StudioError, match="not an image model"):
        o.originality("fortunes-char", image=str(REPO_ROOT / "checkpoints" / "digits-vae" / "samples.png"))
    *_, draft = stream("The sea", model="fortunes-char", max_new_tokens=5, seed=1)
    with pytest.raises(StudioError, match="is a write item; the originality check takes single images"):
        o.originality(item=draft.gallery_ids[0])
    text = tmp_path / "notes.png"
    text.write_text("not really a picture")
    with pytest.raises(StudioError, match="image: .*give a PNG, JPEG or WebP"):
        o.originality("digits-vae", image=str(text))
    save_tiny_vae(None, "no-data", image_size=16, channels=1)
    with pytest.raises(StudioError, match="training images of 'no-data' cannot be found"):
        o.originality("no-data", image=str(REPO_ROOT / "checkpoints" / "digits-vae" / "samples.png"))


def test_a_data_folder_must_be_one_the_server_may_read(isolated_home):
    from studio.families import get_family
    from studio.services.models import save_model

    family = get_family("vae")
    config = {**family.default_config(16, 1), "base_width": 8, "latent_dim": 4}
    for name, folder, why in (("outside", "/etc", "reading a training data folder on the server is off"),
                              ("climbing", "data/../../..", "outside the studio's data/ folder"),
                              ("unprepared", "data/twemoji/raw/nothing-here", "not prepared")):
        save_model(name, "vae", family.build(config), {"config": config,
                                                        "shapes": {"image_size": 16, "channels": 1},
                                                        "dataset": {"name": name, "folder": folder}})
        with pytest.raises(StudioError, match=why):
            training_images(name)
