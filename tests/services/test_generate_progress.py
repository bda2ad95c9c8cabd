"""Generating reports real progress (images and denoising steps done) and stops when asked, keeping the
images finished before the stop: the hooks behind the Generate tab's progress bar and Stop button, and
gradio_client's progress and cancel. Uses the shipped 16 px diffusion model (fast at 10 steps)."""
from __future__ import annotations

from pathlib import Path

import pytest

from studio.core.errors import StudioError
from studio.services.generate import CHUNK, generate

MODEL = "digits-diffusion"


def test_progress_grows_with_the_steps_and_images_done(tmp_path):
    seen = []
    result = generate(MODEL, count=CHUNK + 2, seed=3, out_dir=tmp_path, steps=10,
                      progress=lambda fraction, text: seen.append((fraction, text)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("step 5/10" in text for _, text in seen)      # inside the first chunk's denoising loop
    assert any(f"images {CHUNK + 1}-{CHUNK + 2} of {CHUNK + 2}" in text for _, text in seen)
    assert len(result.files) == CHUNK + 2 and not result.stopped


def test_a_stop_keeps_the_finished_images_and_says_so(isolated_home, tmp_path, monkeypatch):
    import shutil

    from studio.core.environment import REPO_ROOT
    from studio.services.gallery import gallery_item

    monkeypatch.setenv("STUDIO_CHECKPOINTS", str(REPO_ROOT / "checkpoints"))  # the shipped model, a fresh gallery
    out = tmp_path / "outputs"
    finished = []

    def stop_after_first_chunk() -> bool:
        return bool(finished)

    result = generate(MODEL, count=CHUNK * 2, seed=7, out_dir=out, steps=10, cancelled=stop_after_first_chunk,
                      finished=lambda files, seeds, ids: finished.append(len(files)))
    assert result.stopped and result.requested == CHUNK * 2
    assert len(result.files) == CHUNK and result.seeds == list(range(7, 7 + CHUNK))
    assert all(p.is_file() for p in result.files) and result.zip.is_file() and result.grid.is_file()
    # The finished images are in the gallery as copies of their own: the swept request folder may go.
    assert len(result.gallery_ids) == CHUNK and all(result.gallery_ids)
    shutil.rmtree(out)
    records = [gallery_item(i) for i in result.gallery_ids]
    assert [r["seed"] for r in records] == result.seeds
    assert all(Path(f).is_file() and Path(f).is_relative_to(isolated_home) for r in records for f in r["files"])


def test_a_stop_mid_denoising_ends_within_a_step(tmp_path):
    steps_run = []

    def progress(fraction, text):
        steps_run.append(text)

    with pytest.raises(StudioError, match="stopped before the first image"):
        generate(MODEL, count=4, seed=1, out_dir=tmp_path, steps=200, progress=progress,
                 cancelled=lambda: len(steps_run) > 5)
    assert len(steps_run) <= 7  # "loading the model", five steps, then the stop before the next one


def test_the_chunks_of_a_batch_give_the_same_pixels_again(tmp_path):
    import numpy as np
    from PIL import Image

    a = generate(MODEL, count=CHUNK + 1, seed=11, out_dir=tmp_path / "a", steps=10)
    b = generate(MODEL, count=CHUNK + 1, seed=11, out_dir=tmp_path / "b", steps=10)
    for x, y in zip(a.files, b.files):
        assert np.array_equal(np.asarray(Image.open(x)), np.asarray(Image.open(y)))
