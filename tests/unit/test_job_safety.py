"""Training jobs under refusals, deletion and kills: a refused request leaves no job, finished jobs can be
deleted, resume survives a torn log line, and a worker killed at either dangerous moment of a checkpoint
save resumes from a complete checkpoint (the newest, or the previous one)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from studio.core import jobs
from studio.core.errors import StudioError
from studio.core.registry import default_registry
from studio.services import training
from studio.train import run
from tests.support.files import write_zip

REPO = Path(__file__).resolve().parents[2]
TINY = {"latent_dim": 4, "base_width": 8}


@pytest.fixture
def home(isolated_home):
    return isolated_home


def every_entry() -> set[str]:
    return {p.name for p in jobs.jobs_dir().iterdir()}


def prepare(name: str, steps: int, checkpoint_every: int | None = None) -> Path:
    """A tiny VAE job on the built-in digits, written but not started."""
    out = training.start_training("vae", name, builtin="digits", image_size=16, steps=steps, batch_size=8,
                                  config=TINY, start=False)
    folder = jobs.job_dir(out["job"])
    if checkpoint_every:
        spec = json.loads((folder / "spec.json").read_text())
        spec["recipe"]["checkpoint_every"] = checkpoint_every  # read by the shared loop for every family
        jobs.write_json_atomic(folder / "spec.json", spec)
    return folder


def occupy_the_slot(name: str) -> subprocess.Popen:
    """A job that looks running: its status names a live process."""
    folder = prepare(name, steps=5)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    status = jobs.read_status(folder)
    status.update(state="running", pid=sleeper.pid)
    jobs.write_json_atomic(folder / "status.json", status)
    return sleeper


def test_refused_training_requests_leave_no_job(home, tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_MAX_JOBS", "1")
    sleeper = occupy_the_slot("busy")
    try:
        before = every_entry()
        with pytest.raises(StudioError, match="already running"):
            training.start_training("vae", "second", builtin="digits", image_size=16, steps=5)
        broken = write_zip(tmp_path / "images.zip", {"a.png": b"not a png"})
        with pytest.raises(StudioError):
            training.start_training("vae", "third", files=[broken], image_size=16, steps=5)
        with pytest.raises(StudioError, match="latent_dim"):
            training.start_training("vae", "fourth", builtin="digits", image_size=16, steps=5,
                                    config={"latent_dim": 40_000}, start=False)
        assert every_entry() == before  # not even a hidden half-made folder
        assert [j["model"] for j in training.list_jobs()] == ["busy"]
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_job_whose_data_cannot_be_written_leaves_nothing(home):
    def fails(path):
        path.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        jobs.create_job("vae", "nospace", {}, {"steps": 1}, {}, fails)
    assert every_entry() == set()


def test_delete_removes_finished_jobs_and_refuses_running_ones(home):
    sleeper = occupy_the_slot("running-one")
    try:
        running = training.list_jobs()[0]["job"]
        with pytest.raises(StudioError, match="cancel it first"):
            training.delete_job(running)
    finally:
        sleeper.kill()
        sleeper.wait()
    # Its worker is gone: the job is reported failed, and now it can be deleted.
    assert jobs.status(running)["state"] == "failed"
    assert "deleted" in training.delete_job(running)
    assert every_entry() == set()

    done = prepare("finished", steps=4)
    assert run(done) == "completed"
    training.delete_job(done.name)
    assert not done.exists() and every_entry() == set()
    assert default_registry().exists("finished")  # the model a job saved stays
    with pytest.raises(StudioError, match="no training job"):
        training.delete_job(done.name)
    for bad in ("../models", "", ".preparing-x"):
        with pytest.raises(StudioError):
            training.delete_job(bad)


def test_resume_survives_a_torn_last_line_in_the_losses_log(home):
    folder = prepare("torn", steps=10, checkpoint_every=5)
    assert run(folder) == "completed"
    # Turn the finished run back into one stopped at its last checkpoint, as a kill mid-write leaves it.
    spec = json.loads((folder / "spec.json").read_text())
    spec["recipe"]["steps"] = 14
    jobs.write_json_atomic(folder / "spec.json", spec)
    jobs.write_json_atomic(folder / "status.json", {**jobs.read_status(folder), "state": "cancelled"})
    default_registry().delete("torn")
    with open(folder / "losses.jsonl", "a", encoding="utf-8") as f:
        f.write('{"step": 11, "loss": 12')  # the worker died here
    assert training.job_losses(folder.name)[-1]["step"] == 10  # readers skip the torn line

    assert run(folder, resume=True) == "completed"
    lines = (folder / "losses.jsonl").read_text().splitlines()
    steps = [json.loads(line)["step"] for line in lines]  # every line parses
    assert steps == sorted(set(steps)) and steps[-1] == 14 and 10 in steps


KILLER = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {repo!r})
    import studio.train as worker

    moment, saves = {moment!r}, {{"n": 0}}

    # Fault injection: the worker SIGKILLs itself during its second checkpoint save, at one of the two
    # moments a save can be interrupted with harm.
    real_save_model, real_rename = worker.save_model, os.rename

    def save_model(module, path, *args, **kwargs):
        if path.endswith("model.safetensors"):
            saves["n"] += 1
        real_save_model(module, path, *args, **kwargs)
        if moment == "while-writing" and saves["n"] == 2:
            os.kill(os.getpid(), signal.SIGKILL)  # weights written, optimiser state and state.json not

    def rename(src, dst, *args, **kwargs):
        if moment == "between-renames" and saves["n"] == 2 and str(src).endswith("checkpoint.tmp"):
            os.kill(os.getpid(), signal.SIGKILL)  # the old checkpoint moved aside, the new one not yet in
        return real_rename(src, dst, *args, **kwargs)

    worker.save_model, os.rename = save_model, rename
    worker.run(__import__("pathlib").Path({folder!r}))
""")


@pytest.mark.parametrize("moment,left", [
    ("while-writing", {"checkpoint", "checkpoint.tmp"}),
    ("between-renames", {"checkpoint.old", "checkpoint.tmp"}),
])
def test_a_worker_killed_mid_checkpoint_resumes_from_a_complete_one(home, capsys, moment, left):
    folder = prepare(f"killed-{moment}", steps=30, checkpoint_every=10)
    script = KILLER.format(repo=str(REPO), moment=moment, folder=str(folder))
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, timeout=300)
    assert proc.returncode == -9, proc.stderr.decode()[-3000:]
    assert left <= {p.name for p in folder.glob("checkpoint*")}  # it really died at that moment
    if moment == "between-renames":
        assert not (folder / "checkpoint").exists()

    # The job is now a failed one (its worker is gone), resumable from the complete checkpoint at step 10.
    assert jobs.status(folder.name)["state"] == "failed"
    assert [json.loads((c / "state.json").read_text())["step"] for c in jobs.checkpoints(folder)][0] == 10
    capsys.readouterr()
    assert run(folder, resume=True) == "completed"
    out = capsys.readouterr().out
    assert "step 11/30" in out and "step 1/30" not in out  # it continued from step 10, not from scratch
    if moment == "between-renames":
        assert "previous checkpoint (checkpoint.old, step 10)" in out
    status = jobs.read_status(folder)
    assert status["step"] == 30 and default_registry().exists(f"killed-{moment}")
    log_rows = training.job_losses(folder.name)
    assert log_rows[-1]["step"] == 30


def test_resume_falls_back_when_the_newest_checkpoint_is_damaged(home, capsys):
    folder = prepare("damaged", steps=20, checkpoint_every=10)
    assert run(folder) == "completed"  # checkpoints at step 10 (now checkpoint.old) and 20 (checkpoint)
    default_registry().delete("damaged")
    spec = json.loads((folder / "spec.json").read_text())
    spec["recipe"]["steps"] = 30
    jobs.write_json_atomic(folder / "spec.json", spec)
    jobs.write_json_atomic(folder / "status.json", {**jobs.read_status(folder), "state": "cancelled"})
    (folder / "checkpoint" / "model.safetensors").write_bytes(b"\0" * 100)  # the disk damaged the newest
    capsys.readouterr()

    assert run(folder, resume=True) == "completed"
    out = capsys.readouterr().out
    assert "checkpoint does not load" in out and "checkpoint.old, step 10" in out
    assert default_registry().exists("damaged") and jobs.read_status(folder)["step"] == 30
