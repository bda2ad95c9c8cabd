"""Latent directions: GANSpace-style PCA, the on-disk cache, and moving images along them."""
import numpy as np
import pytest
import torch
from PIL import Image

from studio.core.devices import pick_device
from studio.core.errors import StudioError
from studio.core.media import read_png_parameters
from studio.families.vae import ConvVAE
from studio.latent.directions import cache_path, compute, directions_for
from studio.services.directions import latent_directions, move_along
from studio.services.models import load_model, save_model


@pytest.fixture(scope="module")
def vae(module_home):
    torch.manual_seed(1)
    config = {"image_size": 16, "channels": 1, "latent_dim": 8, "base_width": 8, "max_width": 32}
    save_model("dir-vae", "vae", ConvVAE(**config).eval(), {"config": config,
                                                            "shapes": {"image_size": 16, "channels": 1}})
    return module_home, load_model("dir-vae", pick_device("cpu"))


def test_directions_explain_the_image_variation(vae):
    _, loaded = vae
    found = compute(loaded, {"temperature": 1.0}, samples=256, components=4)
    assert found.vectors.shape == (4, 8)
    assert torch.allclose(found.vectors.norm(dim=1), torch.ones(4), atol=1e-5)
    assert (found.explained[:-1] >= found.explained[1:]).all() and found.explained.sum() <= 1
    # Moving along direction 0 changes the image more than moving the same distance along a random unit
    # vector: it is the direction the images vary along most.
    family = loaded.family
    z = family.latents(loaded, [5])
    def change(v):
        return (family.decode(loaded, z + 2 * v, {}) - family.decode(loaded, z, {})).pow(2).sum().item()
    g = torch.Generator().manual_seed(0)
    randoms = [torch.randn(8, generator=g) for _ in range(8)]
    assert change(found.vectors[0]) > np.median([change(r / r.norm()) for r in randoms])


def test_directions_are_cached_on_disk(vae):
    home, loaded = vae
    first = directions_for(loaded, home)
    path = cache_path(home, loaded)
    assert path.is_file()
    stamp = path.stat().st_mtime_ns
    again = directions_for(loaded, home)
    assert path.stat().st_mtime_ns == stamp and torch.equal(first.vectors, again.vectors)
    path.write_bytes(b"damaged")
    assert torch.allclose(directions_for(loaded, home).vectors, first.vectors)


def test_move_along_service(vae, tmp_path):
    info = latent_directions("dir-vae")
    assert info["directions"] == 8 and len(info["explained"]) == 8
    still, params = move_along("dir-vae", [0.0, 0.0], seed=3, size=16, out_dir=tmp_path / "a")
    moved, _ = move_along("dir-vae", [2.5, -1.0], seed=3, size=16, out_dir=tmp_path / "b")
    plain = np.asarray(Image.open(still))
    assert not np.array_equal(plain, np.asarray(Image.open(moved)))
    assert read_png_parameters(moved)["directions"] == [2.5, -1.0] and params["seed"] == 3
    Image.fromarray(np.full((20, 20), 200, np.uint8)).save(tmp_path / "mine.png")
    own, own_params = move_along("dir-vae", [1.0], image=str(tmp_path / "mine.png"), size=32, out_dir=tmp_path)
    assert Image.open(own).size == (32, 32) and own_params["image"] == "mine.png"
    with pytest.raises(StudioError, match="between -5 and 5"):
        move_along("dir-vae", [9.0], seed=3)
    with pytest.raises(StudioError, match="has 8 directions"):
        move_along("dir-vae", [0.1] * 9, seed=3)
