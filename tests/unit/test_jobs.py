"""Job folders on disk: a crashed worker is reported, and does not block new jobs."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from safetensors.torch import save_file

from studio.core import jobs
from studio.core.errors import StudioError
from studio.data.images import builtin_images


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _job(name: str) -> str:
    data = builtin_images("digits", 16, 1)
    return jobs.create_job("vae", name, {"image_size": 16, "channels": 1, "latent_dim": 4, "base_width": 8},
                           {"steps": 5, "batch_size": 8, "learning_rate": 1e-3, "beta": 1.0, "kl_warmup": 1,
                            "seed": 0, "flip": False}, {"name": "digits"},
                           lambda p: save_file({"data": data.images[:32].contiguous()}, str(p)))


def test_a_worker_that_died_is_reported_failed_and_frees_the_slot(home):
    job = _job("crashy")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    status = jobs.read_status(jobs.job_dir(job))
    status.update(state="running", pid=dead.pid)
    jobs.write_json_atomic(jobs.job_dir(job) / "status.json", status)
    with open(jobs.job_dir(job) / "log.txt", "w") as f:
        f.write("Traceback: out of memory\n")
    assert jobs.running_jobs() == []
    st = jobs.status(job)
    assert st["state"] == "failed" and "out of memory" in st["message"]
    with pytest.raises(StudioError, match="no checkpoint"):
        jobs.resume(job)


def test_job_ids_cannot_escape_the_jobs_folder(home):
    for bad in ("../x", "a/b", "", ".hidden", "..", "x" * 200):
        with pytest.raises(StudioError):
            jobs.job_dir(bad)
    with pytest.raises(StudioError, match="no training job"):
        jobs.job_dir("nothing-here")


def test_only_max_jobs_run_at_once(home, monkeypatch):
    first, second = _job("one"), _job("two")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        status = jobs.read_status(jobs.job_dir(first))
        status.update(state="running", pid=sleeper.pid)
        jobs.write_json_atomic(jobs.job_dir(first) / "status.json", status)
        with pytest.raises(StudioError, match="already running"):
            jobs.start(second)
        monkeypatch.setenv("STUDIO_MAX_JOBS", "2")
        started = jobs.start(second)
        assert started["state"] == "starting" and started["pid"]
    finally:
        sleeper.kill()
        sleeper.wait()
        for j in (first, second):
            pid = jobs.read_status(jobs.job_dir(j)).get("pid")
            if pid and pid != sleeper.pid:
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass


def test_closing_a_streamed_event_stops_its_work():
    # What the Stop button does to style optimisation and GAN projection: Gradio closes the event's
    # generator, and the work sees cancelled() and ends after its current step.
    import threading
    import time

    from studio.ui.common import stream_work

    finished = threading.Event()

    def work(emit, cancelled):
        step = 0
        while not cancelled():
            step += 1
            emit("progress", step)
            time.sleep(0.01)
        finished.set()
        return step

    stream = stream_work(work)
    seen = [next(stream) for _ in range(3)]
    assert [kind for kind, _ in seen] == ["progress"] * 3
    stream.close()
    assert finished.wait(5), "the work kept running after its event was closed"

    def fails(emit, cancelled):
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        list(stream_work(fails))
    # ("tick", None) only says the work is quiet (it lets Gradio close the generator between values).
    assert [e for e in stream_work(lambda emit, cancelled: 42) if e[0] != "tick"] == [("done", 42)]
