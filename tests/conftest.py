"""Test set-up: offline and quiet, a private STUDIO_HOME, and the real app launched once per test run.

The environment is set before anything imports Gradio or Hugging Face libraries: without it, building the
app and the client try hub and version look-ups that hang offline.
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
    """The STUDIO_HOME the app of this test run uses."""
    return Path(os.environ["STUDIO_HOME"])


def _isolate(mp: pytest.MonkeyPatch, root: Path) -> Path:
    home = root / "home"
    mp.setenv("STUDIO_HOME", str(home))
    mp.setenv("STUDIO_CHECKPOINTS", str(root / "shipped"))  # no shipped models: only what the test makes
    return home


@pytest.fixture
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty STUDIO_HOME (models, jobs, caches) and an empty shipped-models folder for one test.

    Everything that reads the environment (the registry, jobs, the services) follows it; the shipped models
    stay out of listings so a test sees only the models it made."""
    return _isolate(monkeypatch, tmp_path)


@pytest.fixture(scope="module")
def module_home(tmp_path_factory: pytest.TempPathFactory):
    """`isolated_home` shared by the tests of one module (for models that take a while to train)."""
    with pytest.MonkeyPatch.context() as mp:
        yield _isolate(mp, tmp_path_factory.mktemp("module"))


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
    from studio.core import jobs

    for job in jobs.list_jobs():
        if job.get("state") in jobs.ACTIVE_STATES:
            jobs.kill(job["job"])


@pytest.fixture(scope="session")
def app_vae(app) -> str:
    """A tiny 16 px grey VAE in the app's registry, "interp-test-vae" (the app looks models up by name on
    every call), for tests that need an image model that samples in milliseconds."""
    from studio.core.registry import default_registry
    from tests.support.files import save_tiny_vae

    name = "interp-test-vae"
    if not default_registry().exists(name):
        save_tiny_vae(None, name, image_size=16, channels=1, seed=3)
    return name


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
