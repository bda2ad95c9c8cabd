"""Through the real app with gradio_client: /generate shows progress that grows with the work, and a
client-side cancel ends the computation (the server's CPU use falls), after which the app serves again."""
from __future__ import annotations

import time

from tests.support.cpu import cpu_use

MODEL = "digits-diffusion"


def _progress(job) -> list[tuple[float, str]]:
    units = job.status().progress_data or []
    return [(u.progress, u.desc or "") for u in units if u.progress is not None]


def test_generate_progress_grows_and_a_cancel_stops_the_work(client):
    job = client.submit(MODEL, 64, 1, None, None, "ddim", 200, 0.0, api_name="/generate")
    seen: list[tuple[float, str]] = []
    deadline = time.monotonic() + 300  # a safety stop for a hung server, not a speed check
    while time.monotonic() < deadline and len({f for f, _ in seen}) < 4:
        seen += _progress(job)
        time.sleep(0.2)
    fractions = [f for f, _ in seen]
    assert len(set(fractions)) >= 4 and fractions == sorted(fractions), seen
    assert any("step" in text for _, text in seen), seen

    busy = cpu_use(2.0)
    job.cancel()
    time.sleep(1.5)
    after = cpu_use(2.0)
    assert after < 0.5 * busy, f"the server kept computing after the cancel: {busy:.2f} -> {after:.2f} CPUs"

    gallery, grid, archive, info = client.predict(MODEL, 1, 5, None, None, "ddim", 10, 0.0, api_name="/generate")
    assert info["seeds"] == [5] and len(gallery) == 1
