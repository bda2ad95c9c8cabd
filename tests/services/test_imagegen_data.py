"""Training data for the image families: the Twemoji prepare script (on a package-shaped tarball built
here), dataset facts carried into the job and the model card, folders under STUDIO_DATA_ROOTS, and the
torchvision sets (an already-downloaded MNIST in its real file format; a clear error offline)."""
from __future__ import annotations

import importlib.util
import io
import json
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import tests.support.training  # noqa: F401  (offline environment)
from studio.core.errors import StudioError

REPO = Path(__file__).resolve().parents[2]


def _prepare_module():
    spec = importlib.util.spec_from_file_location("twemoji_prepare", REPO / "data" / "twemoji" / "prepare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _png(colour, alpha=255) -> bytes:
    buf = io.BytesIO()
    Image.new("RGBA", (64, 64), (*colour, alpha)).save(buf, format="PNG")
    return buf.getvalue()


def _package_tarball(path: Path) -> None:
    """A tarball laid out like emoji-datasource-twitter: package/emoji.json + package/img/twitter/64/*.png."""
    emoji = [{"image": "1f600.png", "category": "Smileys & Emotion", "has_img_twitter": True},
             {"image": "1f60d.png", "category": "Smileys & Emotion", "has_img_twitter": True},
             {"image": "1f436.png", "category": "Animals & Nature", "has_img_twitter": True},
             {"image": "1f1eb-1f1f7.png", "category": "Flags", "has_img_twitter": True},
             {"image": "1f47e.png", "category": "Smileys & Emotion", "has_img_twitter": False}]
    with tarfile.open(path, "w:gz") as tar:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        add("package/emoji.json", json.dumps(emoji).encode())
        for i, e in enumerate(emoji):
            add(f"package/img/twitter/64/{e['image']}", _png((40 * i, 200, 100), alpha=200))


def test_twemoji_prepare_writes_the_subset_with_its_facts(tmp_path, monkeypatch):
    prepare = _prepare_module()
    tarball = tmp_path / "pkg.tgz"
    _package_tarball(tarball)
    out = tmp_path / "faces"
    assert prepare.extract(tarball, "faces", out) == 2
    assert sorted(p.name for p in out.glob("*.png")) == ["1f600.png", "1f60d.png"]
    facts = json.loads((out / "dataset.json").read_text())
    assert facts["license"] == "CC-BY-4.0" and "Twitter" in facts["attribution"] and facts["count"] == 2
    assert prepare.extract(tarball, "colourful", tmp_path / "colourful") == 3

    # The studio's loader reads the folder (skipping dataset.json, not reporting it) and keeps the facts.
    from studio.data.images import images_from_files
    data = images_from_files([out], 32, 3)
    assert data.images.shape == (2, 3, 32, 32) and data.skipped == []
    assert data.license == "CC-BY-4.0" and data.source.startswith("npm package emoji-datasource-twitter@16.0.0")
    # Alpha is flattened on the background: 200/255 of the colour over white.
    assert abs(int(data.images[0, 1, 16, 16]) - round(200 * 200 / 255 + 255 * 55 / 255)) <= 1

    # Through the train service, from a folder under STUDIO_DATA_ROOTS: the facts reach the job's spec
    # and the model card renders the licence and attribution.
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("STUDIO_DATA_ROOTS", str(tmp_path))
    from studio.core import jobs
    from studio.services.modelcard import render_model_card
    from studio.services.training import start_training
    result = start_training("gan", "emoji-gan", folder=str(out), color=True, steps=2, start=False)
    spec = json.loads((jobs.job_dir(result["job"]) / "spec.json").read_text())
    assert spec["dataset"]["license"] == "CC-BY-4.0" and spec["dataset"]["name"] == "twemoji-faces"
    assert spec["dataset"]["count"] == 2
    card = render_model_card({"family": "gan", "name": "emoji-gan", "dataset": spec["dataset"]})
    assert "license: cc-by-4.0" in card and "Attribution: Twemoji graphics by Twitter" in card

    monkeypatch.setenv("STUDIO_DATA_ROOTS", str(tmp_path / "elsewhere"))
    with pytest.raises(StudioError, match="is not under an allowed data folder"):
        start_training("gan", "emoji-gan-2", folder=str(out), color=True, steps=2, start=False)


def _idx(path: Path, array: np.ndarray) -> None:
    """Write an array in the IDX format MNIST ships in (big-endian header, unsigned bytes)."""
    header = struct.pack(">HBB", 0, 8, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_torchvision_mnist_already_downloaded_is_used_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path))
    raw = tmp_path / "datasets" / "torchvision" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    images = np.zeros((5, 28, 28), np.uint8)
    images[:, 4:24, 12:16] = 255  # a vertical bar: a "1"
    for split, n in (("train", 5), ("t10k", 2)):
        _idx(raw / f"{split}-images-idx3-ubyte", images[:n])
        _idx(raw / f"{split}-labels-idx1-ubyte", np.ones(n, np.uint8))
    from studio.data.images import builtin_images
    data = builtin_images("mnist", 32, 3)
    assert data.images.shape == (5, 3, 32, 32) and data.images.dtype == torch.uint8
    assert data.images[0, :, 16, 16].tolist() == [255, 255, 255] and data.images[0, 0, 16, 2] == 0
    assert "MNIST" in data.source


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10"])
def test_torchvision_sets_fail_clearly_offline(tmp_path, monkeypatch, name):
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from studio.data.images import builtin_images
    with pytest.raises(StudioError, match=f"{name} is not downloaded yet and the studio runs offline"):
        builtin_images(name, 32, 1)
