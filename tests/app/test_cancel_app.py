"""Through the real app with gradio_client: long actions (/generate, /interpolate, /stylize) show progress
that grows with the work, and a client-side cancel ends the computation (the server's CPU use falls), after
which the app serves again."""
from __future__ import annotations

import time

from gradio_client import handle_file

from tests.support.cpu import cpu_use
from tests.support.files import png_bytes

MODEL = "digits-diffusion"


def _progress(job) -> list[tuple[float, str]]:
    units = job.status().progress_data or []
    return [(u.progress, u.desc or "") for u in units if u.progress is not None]


def _cancel_stops_the_work(job, word: str) -> None:
    """Progress grows (at least four different fractions, never backwards, naming `word`); then a cancel
    makes the server's CPU use fall to under half of what it was."""
    seen: list[tuple[float, str]] = []
    deadline = time.monotonic() + 600  # a safety stop for a hung server, not a speed check
    while time.monotonic() < deadline and len({f for f, _ in seen}) < 4:
        seen += _progress(job)
        time.sleep(0.2)
    fractions = [f for f, _ in seen]
    assert len(set(fractions)) >= 4 and fractions == sorted(fractions), seen
    assert any(word in text for _, text in seen), seen

    busy = cpu_use(2.0)
    job.cancel()
    time.sleep(1.5)
    after = cpu_use(2.0)
    assert after < 0.5 * busy, f"the server kept computing after the cancel: {busy:.2f} -> {after:.2f} CPUs"


def test_generate_progress_grows_and_a_cancel_stops_the_work(client):
    job = client.submit(MODEL, 64, 1, None, None, "ddim", 200, 0.0, api_name="/generate")
    _cancel_stops_the_work(job, "step")
    gallery, grid, archive, info = client.predict(MODEL, 1, 5, None, None, "ddim", 10, 0.0, api_name="/generate")
    assert info["seeds"] == [5] and len(gallery) == 1


def test_interpolate_progress_grows_and_a_cancel_stops_the_work(client):
    job = client.submit(model=MODEL, seeds="1, 2, 3, 4", frames=60, steps=200, api_name="/interpolate")
    _cancel_stops_the_work(job, "step")
    result = client.predict(model=MODEL, seeds="1, 2", frames=2, steps=10, api_name="/interpolate")
    assert result[-1]["total_frames"] == 3


def test_stylize_progress_grows_and_a_cancel_stops_the_work(client, tmp_path):
    content, style = tmp_path / "content.png", tmp_path / "style.png"
    content.write_bytes(png_bytes((256, 256), seed=1))
    style.write_bytes(png_bytes((256, 256), seed=2))
    job = client.submit(content=handle_file(str(content)), style=handle_file(str(style)), method="optimization",
                        size=256, steps=2000, api_name="/stylize")
    _cancel_stops_the_work(job, "step")
    png, params = client.predict(content=handle_file(str(content)), style=handle_file(str(style)),
                                 method="optimization", size=64, steps=2, api_name="/stylize")
    assert params["steps"] == 2


def test_write_progress_grows_and_a_cancel_stops_the_work(client):
    job = client.submit(prompt="The sea at night", max_new_tokens=2000, seed=1, api_name="/write")
    _cancel_stops_the_work(job, "token")
    assert client.predict(prompt="The sea", max_new_tokens=5, seed=1, api_name="/write").startswith("The sea")
