"""A mixed workload for a running studio: several gradio_client clients at once, each calling a round of
light and heavy endpoints (listings, model info, generation, reuse of a PNG's parameters, writing,
interpolation, fast stylising, export, and requests that must be refused). Used by the load test
(`tests/app/test_load.py`) and the load benchmark (`benchmarks/load.py`)."""
from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from gradio_client.exceptions import AppError

VAE = "digits-vae"
TEXT = "fortunes-char"


@dataclass
class Call:
    endpoint: str
    seconds: float
    ok: bool
    error: str = ""


def _round(client, index: int, style_image: Path) -> list[tuple[str, callable]]:
    """One round of calls for client `index`: (endpoint, thunk) pairs; a thunk raises on failure."""
    from gradio_client import handle_file

    state = {}

    def generate():
        gallery = client.predict(model=VAE, count=2, seed=index, api_name="/generate")[0]
        assert len(gallery) == 2
        state["png"] = gallery[0]["image"]

    def reuse():
        assert client.predict(png=handle_file(state["png"]), api_name="/reuse_parameters")["seed"] == index

    def refused():
        try:
            client.predict(model=VAE, count=2.5, api_name="/generate")
        except AppError as exc:
            assert "count must be a whole number" in str(exc)
            return
        raise AssertionError("a fractional count was accepted")

    def write():
        text = client.predict(model=TEXT, prompt="The sea", max_new_tokens=16, seed=index, api_name="/write")
        assert text.startswith("The sea")

    def interpolate():
        frames = client.predict(model=VAE, seeds=f"{index}, {index + 1}", frames=4, size=64, api_name="/interpolate")[0]
        assert len(frames) >= 4

    def stylize():
        png, params = client.predict(content=handle_file(style_image), style=handle_file(style_image),
                                     method="adain", size=128, api_name="/stylize")
        assert png and params["method"] == "adain"

    def export():
        assert str(client.predict(name=VAE, api_name="/model_export")).endswith(".zip")

    return [("/models", lambda: client.predict(api_name="/models")),
            ("/model_info", lambda: client.predict(name=VAE, api_name="/model_info")),
            ("/generate", generate), ("/reuse_parameters", reuse), ("/generate (refused)", refused),
            ("/jobs", lambda: client.predict(api_name="/jobs")), ("/write", write), ("/interpolate", interpolate),
            ("/stylize", stylize), ("/model_export", export)]


def run_load(url: str, clients: int = 8, rounds: int = 1, auth=None, style_image: Path | None = None) -> list[Call]:
    """`clients` threads, each with its own gradio_client, each running `rounds` rounds of the mix (in a
    different order per client, so light and heavy calls overlap). Returns every call's record."""
    from gradio_client import Client

    if style_image is None:  # an installed photo, 128 px, as content and style both
        import tempfile

        from studio.data.examples import installed_images
        photo = next(i for i in installed_images().values() if i.kind == "photo").load().convert("RGB")
        style_image = Path(tempfile.mkdtemp(prefix="studio-load-")) / "photo.png"
        photo.resize((128, 128)).save(style_image)
    calls: list[Call] = []
    lock = threading.Lock()
    start = threading.Barrier(clients)

    def worker(index: int):
        try:
            # httpx's 5 s default read timeout is shorter than a queued event can wait on a busy 2-core machine;
            # the load test is bounded as a whole (pytest-timeout) and the benchmark measures the waits.
            client = Client(url, verbose=False, auth=auth, httpx_kwargs={"timeout": 300})
        except Exception:
            with lock:
                calls.append(Call("connect", 0.0, False, traceback.format_exc(limit=3)))
            start.abort()
            return
        try:
            start.wait(timeout=300)
        except threading.BrokenBarrierError:
            pass
        for r in range(rounds):
            plan = _round(client, index * 100 + r, style_image)
            shift = index % len(plan)
            # Keep generate before reuse (reuse reads its PNG); rotate the rest.
            head, rest = plan[:4], plan[4:]
            for endpoint, thunk in (head + rest[shift % len(rest):] + rest[:shift % len(rest)]):
                t0 = time.perf_counter()
                try:
                    thunk()
                    record = Call(endpoint, time.perf_counter() - t0, True)
                except Exception as exc:  # every failure is recorded, not raised: the caller counts them
                    record = Call(endpoint, time.perf_counter() - t0, False, f"{type(exc).__name__}: {exc}"[:500])
                with lock:
                    calls.append(record)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return calls
