"""The studio's environment: variables that say where things live and what limits hold, read in one place.

Every variable is optional; the README lists them. They are read when `environment()` is called, so tests
and scripts can set them before building the app. (Words: a model's *config* is its architecture; a
family's *settings* are its sampling settings; a *recipe* holds training hyper-parameters; what comes from
environment variables is the *environment*.)
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent.parent


def _default_home() -> Path:
    # Hugging Face Spaces mounts persistent storage at /data when the Space has it; use it so models
    # trained in a Space survive a restart. Elsewhere, a folder in the user's home.
    data = Path("/data")
    if data.is_dir() and os.access(data, os.W_OK):
        return data / "studio"
    return Path.home() / ".studio"


def _default_outputs() -> Path:
    # Inside Gradio's upload folder (the rule of gradio.utils.get_upload_folder, read here without importing
    # Gradio), so Gradio serves request outputs where they are rather than copying them (core.outputs).
    gradio = os.environ.get("GRADIO_TEMP_DIR") or str(Path(tempfile.gettempdir()) / "gradio")
    return Path(gradio) / "studio-outputs"


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None


@dataclass(frozen=True)
class Environment:
    home: Path                # writable: the user's models, jobs, caches
    checkpoints: Path         # read-only: shipped models
    device: str               # "auto", "cpu", "cuda", "cuda:1", "mps"
    auth: tuple[str, str] | None
    concurrency: int          # compute-heavy events running at once
    queue_size: int           # events waiting in the queue before new ones are refused
    max_upload_mb: int        # per uploaded file
    max_import_mb: int        # model zip archives (compressed and uncompressed)
    model_cache: int          # loaded models kept in memory
    max_jobs: int             # training jobs running at once
    data_roots: tuple[Path, ...]  # folders the server may read training images from by path
    outputs_dir: Path         # request outputs (core.outputs), removed when old
    output_minutes: int       # how long request outputs are kept
    output_mb: int            # request outputs kept in all, at most
    login_attempts: int       # failed logins per client before it must wait
    trust_proxy: bool         # tell clients apart by X-Forwarded-For (behind a proxy you run)
    gallery_mb: int = 2048    # the gallery of outputs: oldest unrated items go past this size

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def jobs_dir(self) -> Path:
        return self.home / "jobs"

    @property
    def gallery_dir(self) -> Path:
        return self.home / "gallery"


def environment() -> Environment:
    auth = None
    raw_auth = os.environ.get("STUDIO_AUTH", "").strip()
    if raw_auth:
        user, sep, password = raw_auth.partition(":")
        if not sep or not user or not password:
            raise ValueError("STUDIO_AUTH must look like user:password")
        auth = (user, password)
    roots = tuple(Path(p).expanduser().resolve() for p in os.environ.get("STUDIO_DATA_ROOTS", "").split(os.pathsep) if p)
    return Environment(
        home=Path(os.environ.get("STUDIO_HOME") or _default_home()).expanduser().resolve(),
        checkpoints=Path(os.environ.get("STUDIO_CHECKPOINTS") or REPO_ROOT / "checkpoints").expanduser().resolve(),
        device=os.environ.get("STUDIO_DEVICE", "auto").strip() or "auto",
        auth=auth,
        concurrency=max(1, _int("STUDIO_CONCURRENCY", 1)),
        queue_size=max(1, _int("STUDIO_QUEUE_SIZE", 16)),
        max_upload_mb=max(1, _int("STUDIO_MAX_UPLOAD_MB", 200)),
        max_import_mb=max(1, _int("STUDIO_MAX_IMPORT_MB", 500)),
        model_cache=max(1, _int("STUDIO_MODEL_CACHE", 4)),
        max_jobs=max(1, _int("STUDIO_MAX_JOBS", 1)),
        data_roots=roots,
        outputs_dir=Path(os.environ.get("STUDIO_OUTPUTS") or _default_outputs()).expanduser().resolve(),
        output_minutes=max(1, _int("STUDIO_OUTPUT_MINUTES", 60)),
        output_mb=max(1, _int("STUDIO_OUTPUT_MB", 1000)),
        login_attempts=max(1, _int("STUDIO_LOGIN_ATTEMPTS", 5)),
        trust_proxy=os.environ.get("STUDIO_TRUST_PROXY", "").strip().lower() in ("1", "true", "yes"),
        gallery_mb=max(1, _int("STUDIO_GALLERY_MB", 2048)),
    )


def check_server_folder(folder: str | Path, what: str = "folder") -> Path:
    """A folder on the server that a request may read: it must lie under STUDIO_DATA_ROOTS.

    Requests from the web must never name arbitrary server folders; the message names no other folder."""
    from .errors import StudioError

    roots = environment().data_roots
    if not roots:
        raise StudioError(f"reading a {what} on the server is off; set STUDIO_DATA_ROOTS to allow folders under it")
    path = Path(folder).expanduser().resolve()
    if not any(path == r or r in path.parents for r in roots):
        raise StudioError(f"{folder} is not under an allowed data folder (STUDIO_DATA_ROOTS)")
    if not path.is_dir():
        raise StudioError(f"{folder} is not a folder")
    return path
