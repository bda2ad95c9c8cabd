"""Where requests write what they return (images, grids, GIFs, MP4s, zips, exports), and how it goes away.

Each request gets its own folder under the outputs root. By default the root lies inside Gradio's upload
folder (GRADIO_TEMP_DIR, else <temp>/gradio), so Gradio serves the files where they are instead of copying
each one into its cache, and its `delete_cache` (set at launch, `studio.ui.app`) deletes those files along
with its own. The studio removes its folders too: those older than STUDIO_OUTPUT_MINUTES, and the oldest
beyond STUDIO_OUTPUT_MB in all, checked at most once a minute when a request asks for a folder, and at
start-up. A folder made in the last minute is never removed, so a result is not deleted before it is sent.
"""
from __future__ import annotations

import shutil
import threading
import time
import uuid
from pathlib import Path

from .environment import environment

SWEEP_EVERY_SECONDS = 60
GRACE_SECONDS = 60

_lock = threading.Lock()
_last_sweep = {"at": 0.0}


def new_output_dir(kind: str) -> Path:
    """A fresh, empty folder for one request's files ("generate", "interpolate", "style", "export"...)."""
    root = environment().outputs_dir
    with _lock:
        due = time.monotonic() - _last_sweep["at"] > SWEEP_EVERY_SECONDS
        if due:
            _last_sweep["at"] = time.monotonic()
    if due:
        sweep_outputs()
    folder = root / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:12]}"
    folder.mkdir(parents=True)
    return folder


def _size(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
        except OSError:
            continue
    return total


def sweep_outputs(max_age_seconds: float | None = None, max_bytes: int | None = None) -> dict:
    """Remove request folders older than the age limit, then the oldest until the rest fit the size cap
    (never one younger than GRACE_SECONDS). Returns {"removed", "kept", "kept_bytes"}."""
    env = environment()
    max_age = env.output_minutes * 60 if max_age_seconds is None else max_age_seconds
    cap = env.output_mb << 20 if max_bytes is None else max_bytes
    root = env.outputs_dir
    if not root.is_dir():
        return {"removed": 0, "kept": 0, "kept_bytes": 0}
    now = time.time()
    folders = []
    for entry in root.iterdir():
        try:
            folders.append((entry.stat().st_mtime, entry))
        except FileNotFoundError:
            continue
    removed = 0
    kept = []
    for mtime, folder in sorted(folders):
        if now - mtime > max(max_age, GRACE_SECONDS):
            _remove(folder)
            removed += 1
        else:
            kept.append((mtime, folder, _size(folder) if folder.is_dir() else 0))
    total = sum(size for _, _, size in kept)
    for mtime, folder, size in list(kept):  # oldest first
        if total <= cap:
            break
        if now - mtime <= GRACE_SECONDS:
            continue
        _remove(folder)
        kept.remove((mtime, folder, size))
        total -= size
        removed += 1
    return {"removed": removed, "kept": len(kept), "kept_bytes": total}


def _remove(entry: Path) -> None:
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        entry.unlink(missing_ok=True)
