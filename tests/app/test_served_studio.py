"""The studio served from its own process, with a login: what a restart cleans, what a hostile import costs
the server's memory, what its log says about refused requests, how failed logins are throttled, and that
old outputs and Gradio's cache go away."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from tests.support.files import model_zip
from tests.support.server import StudioServer

REPO = Path(__file__).resolve().parents[2]
AUTH = ("artist", "a-long-secret")
VAE = "digits-vae"


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    home = root / "home"
    incoming = home / "models" / ".incoming"
    # What a server killed mid-import and a worker killed mid-save leave, and what a live process is writing.
    killed = incoming / f"{dead_pid()}-0badc0de-{'a' * 32}"
    killed.mkdir(parents=True)
    (killed / "model.safetensors").write_bytes(b"\0" * (4 << 20))
    live = incoming / f"{os.getpid()}-feedf00d-{'b' * 32}"  # this test process: alive
    live.mkdir()
    half_job = home / "jobs" / f".preparing-{dead_pid()}-0badc0de-20990101-000000-x-0000"
    half_job.mkdir(parents=True)
    old_output = root / "gradio" / "studio-outputs" / "generate-20000101-000000-0123456789ab"
    old_output.mkdir(parents=True)
    (old_output / "old.png").write_bytes(b"png")
    os.utime(old_output, (time.time() - 7200, time.time() - 7200))
    env = {"STUDIO_AUTH": ":".join(AUTH), "STUDIO_TRUST_PROXY": "1", "STUDIO_OUTPUT_MINUTES": "1"}
    with StudioServer(root, env=env) as server:
        server.planted = {"killed": killed, "live": live, "half_job": half_job, "old_output": old_output}
        server.started = time.monotonic()
        yield server


@pytest.fixture(scope="module")
def client(served):
    return served.client(auth=AUTH, headers={"X-Forwarded-For": "10.9.9.9"})


def test_startup_removes_what_dead_processes_left(served):
    assert not served.planted["killed"].exists()
    assert not served.planted["half_job"].exists()
    assert not served.planted["old_output"].exists()
    assert served.planted["live"].exists()  # a live process may still be writing it


def test_a_hostile_import_costs_the_server_under_100_mb(served, client, tmp_path):
    shipped = REPO / "checkpoints" / VAE
    # Warm up: a sound import of the same model, so the code paths are loaded before measuring.
    good = model_zip(shipped, tmp_path / "good.zip")
    assert client.predict(file=handle_file(good), name="warm-copy", api_name="/model_import")["family"] == "vae"
    # The archive: 5.5 MB, asking for latent_dim=40,000 (about 2.6 GB of weights if built).
    huge = model_zip(shipped, tmp_path / "huge.zip", edit={"studio.json": lambda m: m["config"].update(latent_dim=40_000)})

    def hostile():
        with pytest.raises(AppError, match="latent_dim must be a whole number from 1 to 1024"):
            client.predict(file=handle_file(huge), name="huge", api_name="/model_import")

    before, peak = served.peak_during(hostile)
    print(f"server RSS {before:.0f} MB before, peak {peak:.0f} MB during the hostile import")
    assert peak - before < 100, (before, peak)
    incoming = served.home / "models" / ".incoming"
    assert [p for p in incoming.iterdir() if "deleted" not in p.name] == [served.planted["live"]]  # no leftovers


def test_outputs_are_served_where_they_are_written(served, client):
    gallery = client.predict(model=VAE, count=2, seed=21, api_name="/generate")[0]
    assert len(gallery) == 2
    server_cache = served.root / "gradio"
    found = [p for p in server_cache.rglob(f"{VAE}-seed21.png")]
    assert len(found) == 1 and "studio-outputs" in found[0].parts  # no second copy in Gradio's cache


def test_refused_requests_are_one_log_line_each(served, client):
    lines_before = served.log.read_text(errors="replace").count("\n")
    for bad in ({"count": 0}, {"count": 2.5}, {"count": "abc"}, {"seed": "x"}, {"model": "nope"}):
        with pytest.raises(AppError):
            client.predict(**{"model": VAE, **bad}, api_name="/generate")
    time.sleep(0.5)
    new = served.log.read_text(errors="replace").splitlines()[lines_before:]
    refusals = [line for line in new if "refused" in line]
    assert len(refusals) == 5, new
    assert not [line for line in new if "Traceback" in line or line.startswith("  File ")], new


def test_failed_logins_are_throttled_per_client_and_logged_once_each(served):
    def login(client_ip: str, password: str) -> httpx.Response:
        return httpx.post(served.url + "login", data={"username": AUTH[0], "password": password},
                          headers={"X-Forwarded-For": client_ip}, timeout=30)

    log_before = served.log.read_text(errors="replace").count("\n")
    codes = [login("10.0.0.1", f"guess-{i}").status_code for i in range(30)]
    # Five tries, then a wait that doubles with each further failure: most of the 30 are turned away.
    assert codes[:6] == [400] * 5 + [429] and codes.count(429) >= 20, codes
    failures = codes.count(400)
    while login("10.0.0.1", "again").status_code != 400:  # the next failure starts a wait of >= 2 s
        time.sleep(0.1)
    failures += 1
    locked = login("10.0.0.1", AUTH[1])
    assert locked.status_code == 429  # the right password must wait too
    assert "Too many failed logins" in locked.json()["detail"]
    assert login("10.0.0.2", AUTH[1]).status_code == 200  # another client is not locked out
    time.sleep(int(locked.headers["retry-after"]) + 0.2)
    assert login("10.0.0.1", AUTH[1]).status_code == 200  # after the wait it works, and clears the count
    assert login("10.0.0.1", "wrong").status_code == 400
    new = served.log.read_text(errors="replace").splitlines()[log_before:]
    failed = [line for line in new if "failed login from 10.0.0.1" in line]
    assert len(failed) == failures + 1 and "(5 in a row)" in failed[4] and "(1 in a row)" in failed[-1], failed
    assert [line for line in new if "login refused for 10.0.0.1" in line]
    assert not [line for line in new if "Traceback" in line]


def test_old_outputs_and_gradio_cache_files_are_removed(served, client, tmp_path):
    # STUDIO_OUTPUT_MINUTES=1: outputs and Gradio's served and uploaded files go once a minute old.
    first = client.predict(model=VAE, count=1, seed=5, api_name="/generate")
    outputs = served.root / "gradio" / "studio-outputs"
    early = {p.name for p in outputs.iterdir()}
    uploads_early = {p for p in (served.root / "gradio").rglob("*.zip") if "studio-outputs" not in p.parts}
    assert first and early and uploads_early
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        time.sleep(10)
        client.predict(model=VAE, count=1, seed=6, api_name="/generate")  # a request sweeps old outputs
        now = {p.name for p in outputs.iterdir()}
        uploads = {p for p in uploads_early if p.exists()}
        if not early & now and not uploads:
            break
    assert not early & {p.name for p in outputs.iterdir()}, "old output folders were kept"
    assert not [p for p in uploads_early if p.exists()], "Gradio's old cached files were kept"
