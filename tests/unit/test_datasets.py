"""Preparing training images from real files: formats, sizes, zips, and what is skipped and why."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from studio.core.errors import StudioError
from studio.data.images import builtin_images, images_from_files
from tests.support.files import png_bytes, write_zip


def test_mixed_modes_become_one_uint8_tensor_at_model_size(tmp_path):
    files = []
    for i, mode in enumerate(["L", "RGB", "RGBA", "P"]):
        path = tmp_path / f"img{i}.png"
        path.write_bytes(png_bytes((40 + 7 * i, 30), mode=mode, seed=i))
        files.append(path)
    jpeg = tmp_path / "photo.jpg"
    Image.fromarray(np.full((50, 80, 3), 200, np.uint8)).save(jpeg)
    webp = tmp_path / "pic.webp"
    Image.fromarray(np.full((64, 64, 3), 10, np.uint8)).save(webp)
    data = images_from_files(files + [jpeg, webp], size=16, channels=3)
    assert data.images.shape == (6, 3, 16, 16) and data.images.dtype.is_floating_point is False
    grey = images_from_files(files, size=16, channels=1)
    assert grey.images.shape == (4, 1, 16, 16)
    assert not data.skipped


def test_transparency_is_flattened_on_the_chosen_background(tmp_path):
    clear = Image.new("RGBA", (20, 20), (255, 0, 0, 0))  # fully transparent red
    path = tmp_path / "clear.png"
    clear.save(path)
    white = images_from_files([path], 16, 3, background=(255, 255, 255)).images
    black = images_from_files([path], 16, 3, background=(0, 0, 0)).images
    assert white.min() == 255 and black.max() == 0


def test_pad_keeps_the_whole_image_and_crop_fills_the_square(tmp_path):
    wide = Image.fromarray(np.zeros((10, 40, 3), np.uint8))  # black strip
    path = tmp_path / "wide.png"
    wide.save(path)
    padded = images_from_files([path], 16, 3, fit="pad", background=(255, 255, 255)).images[0]
    cropped = images_from_files([path], 16, 3, fit="crop").images[0]
    assert padded.max() == 255 and padded.min() == 0  # white bands around the strip
    assert cropped.max() == 0


def test_unusable_files_are_skipped_with_reasons(tmp_path):
    good = tmp_path / "good.png"
    good.write_bytes(png_bytes((32, 32)))
    tiny = tmp_path / "tiny.png"
    tiny.write_bytes(png_bytes((1, 1)))
    text = tmp_path / "notes.png"
    text.write_text("not an image at all")
    bomb = tmp_path / "bomb.png"
    Image.new("1", (10000, 9000)).save(bomb)  # 90 megapixels (over the 80 MP limit), a few kB on disk
    huge = tmp_path / "huge.png"
    Image.new("1", (12000, 12000)).save(huge)  # past PIL's own hard limit too
    archive = write_zip(tmp_path / "mixed.zip", {"a.png": png_bytes((24, 24)), "readme.txt": b"hello",
                                                  "__MACOSX/._a.png": b"junk", "deep/b.jpg": b"broken jpeg"})
    data = images_from_files([good, tiny, text, bomb, archive], 16, 1)
    data = images_from_files([good, tiny, text, bomb, huge, archive], 16, 1)
    assert len(data.used) == 2
    reasons = dict(data.skipped)
    assert "too large" in reasons["huge.png"]
    assert "too small" in reasons["tiny.png"]
    assert "not an image" in reasons["notes.png"]
    assert "too large" in reasons["bomb.png"]
    assert "not an image file type" in reasons["mixed.zip/readme.txt"]
    assert "mixed.zip/deep/b.jpg" in reasons
    assert "__MACOSX" not in " ".join(reasons)
    assert "2 images used" in data.report() and "too small" in data.report()


@pytest.mark.parametrize("members", [{}, {"a.txt": b"x", "b.csv": b"1,2"}])
def test_zips_without_images_are_refused(tmp_path, members):
    archive = write_zip(tmp_path / "none.zip", members)
    with pytest.raises(StudioError, match="no usable images"):
        images_from_files([archive], 16, 1)


def test_a_file_that_is_not_a_zip_is_refused(tmp_path):
    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"PK not really")
    with pytest.raises(StudioError, match="not a valid zip"):
        images_from_files([fake], 16, 1)


def test_no_files_at_all_says_what_to_do():
    with pytest.raises(StudioError, match="upload images"):
        images_from_files([], 16, 1)


def test_builtin_digits_are_real_digits():
    data = builtin_images("digits", 32, 1)
    assert data.images.shape == (1797, 1, 32, 32)
    assert "BSD" in data.license and "load_digits" in data.source
    # ink on a dark background: the border is dark, the centre has strokes
    mean = data.images.float().mean(0)[0]
    assert mean[:, :3].mean() < 20 and mean[12:20, 12:20].mean() > 60
    with pytest.raises(StudioError, match="unknown built-in"):
        builtin_images("cifar-1000", 32, 1)


def test_a_jpeg_bomb_header_is_refused_before_decoding(tmp_path):
    buf = io.BytesIO()
    Image.new("L", (10000, 9000)).save(buf, format="JPEG", quality=1)
    path = tmp_path / "big.jpg"
    path.write_bytes(buf.getvalue())
    with pytest.raises(StudioError, match="too large"):
        images_from_files([path], 16, 1)
