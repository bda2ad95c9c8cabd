"""Test set-up: offline and quiet, a private STUDIO_HOME, and the real app launched once per test run.

The environment is set before anything imports Gradio or Hugging Face libraries (see shared GRADIO.md):
without it, building the app and the client try hub and version look-ups that hang offline.
"""
from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

_ROOT = Path(tempfile.mkdtemp(prefix="studio-tests-"))
os.environ.update({
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "STUDIO_HOME": str(_ROOT / "home"),
    "GRADIO_TEMP_DIR": str(_ROOT / "gradio"),
    "TMPDIR": str(_ROOT / "tmp"),
    "STUDIO_DEVICE": os.environ.get("STUDIO_DEVICE", "cpu"),
})
(_ROOT / "tmp").mkdir(parents=True, exist_ok=True)
tempfile.tempdir = None  # re-read TMPDIR

import pytest  # noqa: E402

ARTIFACTS = Path(os.environ.get("STUDIO_TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def studio_home() -> Path:
    return Path(os.environ["STUDIO_HOME"])


@pytest.fixture(scope="session")
def app():
    """The real studio app, served on a free local port for the whole test run."""
    from studio.ui.app import build_demo, launch_options

    demo = build_demo()
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True,
                **launch_options())
    yield demo
    demo.close()
    stop_all_jobs()


def stop_all_jobs() -> None:
    """Stop training workers the tests started, so none outlives the run (they are separate processes)."""
    from studio import jobs

    for job in jobs.list_jobs():
        if job.get("state") in jobs.ACTIVE_STATES:
            jobs.kill(job["job"])


@pytest.fixture(scope="session")
def client(app):
    """A gradio_client connected to the real app, as a script author would use it."""
    from gradio_client import Client

    return Client(app.local_url, verbose=False)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where tests leave screenshots and outputs worth looking at (test-artifacts/, git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
