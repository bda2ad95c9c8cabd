"""Background training jobs: one folder and one process per job, all state on disk.

    <STUDIO_HOME>/jobs/<job id>/
        spec.json          family, model name, config, recipe, dataset facts
        data.safetensors   the prepared training data
        status.json        state, step, speed, ETA, message (written by the worker, atomically)
        losses.jsonl       one line of losses per logged step
        sample.png         the latest fixed-seed sample grid
        log.txt            the worker's output
        checkpoint/        the last good checkpoint (weights, optimiser state, step)
        checkpoint.old/    the one before it, kept as a fallback (see `checkpoints`)
        cancel             present when cancel was asked for

Because everything lives in files, the UI and the API re-attach to a job after a page reload or an app
restart. The worker is `python -m studio.train <job dir>`, which also runs under `accelerate launch`.

A job folder appears whole or not at all: it is prepared under a hidden name and renamed into place, and a
job whose worker cannot start is removed again, so a refused request never leaves a job behind. A job
that has finished, failed or been cancelled can be deleted (`delete`).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from .environment import REPO_ROOT, environment
from .errors import StudioError
from .leftovers import process_alive, sweep, writer_prefix

ACTIVE_STATES = ("starting", "preparing", "running", "cancelling")
FINAL_STATES = ("completed", "cancelled", "failed")
_JOB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$")

_processes: dict[str, subprocess.Popen] = {}
_lock = threading.Lock()


def jobs_dir() -> Path:
    path = environment().jobs_dir
    path.mkdir(parents=True, exist_ok=True)
    return path


def job_dir(job_id: str) -> Path:
    if not job_id or not _JOB_ID_RE.match(job_id) or ".." in job_id:
        raise StudioError(f"{job_id!r} is not a job id; /train returns one, and the Train tab lists them")
    path = jobs_dir() / job_id
    if not (path / "spec.json").is_file():
        raise StudioError(f"no training job {job_id!r}")
    return path


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def read_status(folder: Path) -> dict:
    try:
        status = json.loads((folder / "status.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {"state": "starting"}
    return status if isinstance(status, dict) else {"state": "starting"}


def read_jsonl(path: Path) -> list[dict]:
    """The rows of a JSON-lines log, skipping lines that do not parse: a worker killed mid-write leaves a torn
    last line, and one being written right now is not whole yet."""
    rows = []
    if not path.is_file():
        return rows
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def checkpoints(folder: Path) -> list[Path]:
    """The job's checkpoints that are complete (their state.json, written last, parses), newest first:
    `checkpoint/`, then `checkpoint.old/`, which a save keeps until the next one is safely in place."""
    found = []
    for name in ("checkpoint", "checkpoint.old"):
        try:
            state = json.loads((folder / name / "state.json").read_text(encoding="utf-8"))
            found.append((int(state["step"]), name == "checkpoint", folder / name))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return [path for _, _, path in sorted(found, reverse=True)]


def _alive(job_id: str, pid: int | None) -> bool:
    proc = _processes.get(job_id)
    if proc is not None:
        return proc.poll() is None
    return process_alive(pid)  # a job started by an earlier run of the app: is its worker still there?


def _worker_command(folder: Path, resume: bool) -> list[str]:
    return [sys.executable, "-m", "studio.train", str(folder)] + (["--resume"] if resume else [])


_PREPARING = ".preparing-"
_DELETING = ".deleting-"


def create_job(family: str, model_name: str, config: dict, recipe: dict, dataset: dict,
               write_data, extra: dict | None = None) -> str:
    """Make a job folder with its spec and data (written by `write_data(path)`); returns the job id.

    The folder is written under a hidden name and renamed into place once whole, so a failure (or a kill)
    while writing the data leaves no job listed. `extra` adds keys to the spec (shapes, preprocessing, the
    command that reproduces the run)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    job_id = f"{stamp}-{model_name}-{uuid.uuid4().hex[:4]}"
    staging = jobs_dir() / f"{_PREPARING}{writer_prefix()}-{job_id}"
    staging.mkdir(parents=True)
    try:
        write_data(staging / "data.safetensors")
        spec = {"job": job_id, "family": family, "model_name": model_name, "config": config, "recipe": recipe,
                "dataset": dataset, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "models_dir": str(environment().models_dir), **(extra or {})}
        write_json_atomic(staging / "status.json", {"job": job_id, "state": "starting", "step": 0,
                                                    "steps": recipe["steps"], "model": model_name})
        write_json_atomic(staging / "spec.json", spec)
        os.rename(staging, jobs_dir() / job_id)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return job_id


def check_capacity(job_id: str | None = None) -> None:
    """Refuse when STUDIO_MAX_JOBS jobs (other than `job_id`) are running: asked before any work starts."""
    busy = [j for j in running_jobs() if j != job_id]
    if len(busy) >= environment().max_jobs:
        raise StudioError(f"{len(busy)} training job(s) already running ({', '.join(busy)}); wait for it to "
                          "finish or cancel it (STUDIO_MAX_JOBS sets how many may run at once)")


def delete(job_id: str) -> str:
    """Remove a finished, failed or cancelled job's folder (its data copy, checkpoints, logs). The model it
    saved, if any, stays. A running job must be cancelled first."""
    folder = job_dir(job_id)
    with _lock:
        st = status(job_id)
        if st.get("state") in ACTIVE_STATES:
            raise StudioError(f"job {job_id} is {st.get('state')}; cancel it first, then delete it")
        trash = jobs_dir() / f"{_DELETING}{writer_prefix()}-{job_id}"
        os.rename(folder, trash)  # gone from listings at once, then removed
        _processes.pop(job_id, None)
    shutil.rmtree(trash, ignore_errors=True)
    return f"deleted job {job_id}"


def clean_leftovers() -> list[str]:
    """Remove job folders half prepared or half deleted by a process that died (run at start-up)."""
    return sweep(jobs_dir(), _PREPARING) + sweep(jobs_dir(), _DELETING)


def running_jobs() -> list[str]:
    """Jobs whose worker is alive (a worker that crashed is marked failed on the way)."""
    return [j["job"] for j in list_jobs() if j.get("state") in ACTIVE_STATES
            and status(j["job"]).get("state") in ACTIVE_STATES]


def start(job_id: str, resume: bool = False) -> dict:
    """Start (or resume) the worker process for a job. Refuses past STUDIO_MAX_JOBS running jobs."""
    folder = job_dir(job_id)
    with _lock:
        check_capacity(job_id)
        (folder / "cancel").unlink(missing_ok=True)
        status = read_status(folder)
        status.update(state="starting", message="resuming from the last checkpoint" if resume else "starting")
        write_json_atomic(folder / "status.json", status)
        log = open(folder / "log.txt", "a", encoding="utf-8")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        proc = subprocess.Popen(_worker_command(folder, resume), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=str(REPO_ROOT), env=env, start_new_session=True)
        log.close()
        _processes[job_id] = proc
        status["pid"] = proc.pid
        write_json_atomic(folder / "status.json", status)
    return status


def status(job_id: str) -> dict:
    """The job's state as the worker last wrote it, with crashed workers detected and reported."""
    folder = job_dir(job_id)
    st = read_status(folder)
    st["job"] = job_id
    if st.get("state") in ACTIVE_STATES and not _alive(job_id, st.get("pid")):
        time.sleep(0.2)  # the worker may be writing its final status right now
        st = read_status(folder)
        st["job"] = job_id
        if st.get("state") in ACTIVE_STATES:
            tail = log_tail(job_id, 5)
            st.update(state="failed", message="the training process stopped unexpectedly" + (f": {tail}" if tail else ""))
            write_json_atomic(folder / "status.json", st)
    return st


def cancel(job_id: str) -> dict:
    """Ask the worker to stop after its current step; it saves a checkpoint first, so resume can continue."""
    folder = job_dir(job_id)
    st = status(job_id)
    if st.get("state") not in ACTIVE_STATES:
        raise StudioError(f"job {job_id} is not running (it is {st.get('state')})")
    (folder / "cancel").touch()
    st.update(state="cancelling", message="stopping after the current step")
    write_json_atomic(folder / "status.json", st)
    return st


def resume(job_id: str) -> dict:
    folder = job_dir(job_id)
    st = status(job_id)
    if st.get("state") in ACTIVE_STATES:
        raise StudioError(f"job {job_id} is still running")
    if st.get("state") == "completed":
        raise StudioError(f"job {job_id} has completed; its model is {st.get('model')!r}")
    if not checkpoints(folder):
        raise StudioError(f"job {job_id} has no checkpoint to resume from; start a new job instead")
    return start(job_id, resume=True)


def kill(job_id: str) -> None:
    """Stop a worker at once (for shutdown); the last checkpoint on disk stays."""
    st = read_status(job_dir(job_id))
    pid = st.get("pid")
    if pid and _alive(job_id, pid):
        try:
            os.killpg(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass


def list_jobs() -> list[dict]:
    """Every job, newest first, with its last status."""
    out = []
    for folder in sorted(jobs_dir().iterdir(), reverse=True):
        if not folder.name.startswith(".") and (folder / "spec.json").is_file():
            st = read_status(folder)
            st["job"] = folder.name
            out.append(st)
    return out


def losses(job_id: str) -> list[dict]:
    return read_jsonl(job_dir(job_id) / "losses.jsonl")


def log_tail(job_id: str, lines: int = 20) -> str:
    path = job_dir(job_id) / "log.txt"
    if not path.is_file():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def sample_path(job_id: str) -> Path | None:
    path = job_dir(job_id) / "sample.png"
    return path if path.is_file() else None
