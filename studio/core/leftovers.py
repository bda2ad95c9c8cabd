"""Folders a process writes before publishing them (half-saved models, jobs being prepared, items being
deleted), named after their writer so that a later start-up can tell the leftovers of a dead process from
work in progress in a live one (a training worker saving its model while the app restarts).

A name starts with "<pid>-<token>-", the token drawn once per process: a container often gives the server
the same pid after a restart, and the token tells this process's folders from its predecessor's.
"""
from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path

_TOKEN = uuid.uuid4().hex[:8]
STALE_SECONDS = 3600


def writer_prefix() -> str:
    """"<pid>-<token>": what this process's temporary folders start with."""
    return f"{os.getpid()}-{_TOKEN}"


def process_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def writer_alive(name: str) -> bool:
    """Whether the process that named a folder `name` (after a prefix, "<pid>-<token>-...") may still be
    writing it. Names without a writer count as alive (they are removed only once stale)."""
    parts = name.lstrip(".").split("-")
    if len(parts) < 3 or not parts[0].isdigit():
        return True
    pid, token = int(parts[0]), parts[1]
    if pid == os.getpid():
        return token == _TOKEN
    return process_alive(pid)


def sweep(folder: Path, strip: str = "") -> list[str]:
    """Remove the entries of `folder` (those whose names start with `strip`, which is dropped before the
    writer is read) that no live process is writing, or that are over STALE_SECONDS old. Returns their names."""
    removed = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        if not entry.name.startswith(strip):
            continue
        try:
            stale = time.time() - entry.lstat().st_mtime > STALE_SECONDS
        except FileNotFoundError:
            continue
        if stale or not writer_alive(entry.name[len(strip):]):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry.name)
    return removed
