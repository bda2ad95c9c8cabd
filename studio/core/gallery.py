"""The gallery store: every output the studio makes, one folder per item, with its rating, on disk.

    <STUDIO_HOME>/gallery/
        <item id>/                  e.g. 20261123-191602-3fa2c1d0 (UTC time of making, then 8 hex digits)
            item.json               id, kind (the tab), model, created, seed, parameters, files, rating, favourite
            <the item's files>      PNG, GIF, MP4, JSON, TXT: copies of what the tab showed

Everything lives in plain files so ratings survive restarts and an artist may tidy the folder by hand. Reading
is forgiving: a foreign file or folder, an item without a readable item.json, or a file it names that is gone
is skipped with a note, never an error. Writing is careful: item.json is replaced atomically, ids are checked
before they touch a path, and an item only lists files inside its own folder (no links, no path parts).

The store keeps the gallery under a size cap (STUDIO_GALLERY_MB): when a new item pushes it over, the oldest
unrated items go first, then rated ones from the lowest rating up; favourites are never removed.

The gallery folder is the studio's own record of what was made: output cleanup (temporary files, old jobs)
must leave `<STUDIO_HOME>/gallery/` alone.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .environment import environment
from .errors import StudioError, check_number

ITEM_FILE = "item.json"
ID_RULE = "ids look like 20261123-191602-3fa2c1d0; /gallery lists them"
_ID_RE = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{8}$")
_FILE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MAX_STARS = 5

_lock = threading.RLock()


def gallery_dir() -> Path:
    path = environment().gallery_dir
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_item_id(item) -> str:
    """`item` if it is a well-formed gallery id; a StudioError otherwise (before it is used in any path)."""
    text = "" if item is None else str(item)
    if not text.strip():
        raise StudioError(f"choose a gallery item ({ID_RULE})")
    if any(part in text for part in ("/", "\\", "..", "\x00")) or text in (".", "~"):
        raise StudioError(f"{text!r} is not a gallery item id: ids have no path parts; {ID_RULE}")
    if not _ID_RE.match(text):
        raise StudioError(f"{text!r} is not a gallery item id; {ID_RULE}")
    return text


def check_stars(stars) -> int:
    """A rating: a whole number of stars from 0 (unrated) to 5."""
    return check_number("stars", stars, 0, MAX_STARS, whole=True)


def safe_file_name(name: str) -> str:
    """A file name fit for an item folder: letters, digits, '.', '_' and '-', no path parts."""
    base = re.sub(r"[^A-Za-z0-9._-]", "-", Path(str(name)).name).lstrip(".-_") or "file"
    if len(base) > 128:
        stem, suffix = os.path.splitext(base)
        base = stem[:128 - len(suffix)] + suffix
    return base


def _write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class Item:
    """One gallery item as read from disk; `files` are the ones that exist, in item.json's order."""
    id: str
    folder: Path
    kind: str
    model: str
    created: str
    seed: int | None
    parameters: dict
    files: list[Path]
    rating: int = 0
    favourite: bool = False
    bytes: int = 0
    extra: dict = field(default_factory=dict)   # any other keys item.json holds (kept on rewrite)

    def record(self) -> dict:
        """The public record (plain JSON values): what `/gallery` returns for each item."""
        return {"id": self.id, "kind": self.kind, "model": self.model, "created": self.created, "seed": self.seed,
                "rating": self.rating, "favourite": self.favourite, "parameters": self.parameters,
                "files": [str(p) for p in self.files], "bytes": self.bytes, **self.extra}


def _read_item(folder: Path, notes: list[str]) -> Item | None:
    """The item in `folder`, or None with a note saying why it was skipped."""
    name = folder.name
    try:
        data = json.loads((folder / ITEM_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        notes.append(f"{name}: no {ITEM_FILE}; skipped")
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        notes.append(f"{name}: {ITEM_FILE} is not readable JSON ({type(exc).__name__}); skipped")
        return None
    if not isinstance(data, dict):
        notes.append(f"{name}: {ITEM_FILE} holds no JSON object; skipped")
        return None
    files, size = [], 0
    listed = data.get("files") if isinstance(data.get("files"), list) else []
    for entry in listed:
        entry = str(entry)
        path = folder / entry
        if not _FILE_RE.match(entry) or ".." in entry:
            notes.append(f"{name}: the file name {entry!r} is not allowed in an item; skipped")
        elif path.is_symlink() or not path.is_file():
            notes.append(f"{name}: {entry} is missing; skipped")
        else:
            files.append(path)
            size += path.stat().st_size
    if not files:
        notes.append(f"{name}: none of its files is left; skipped")
        return None
    known = {p.name for p in files} | {ITEM_FILE, *map(str, listed)}
    foreign = sorted(p.name for p in folder.iterdir() if p.name not in known and not p.name.startswith("."))
    if foreign:
        notes.append(f"{name}: ignored files it does not list: {', '.join(foreign[:5])}")
    rating = data.get("rating", 0)
    if isinstance(rating, bool) or not isinstance(rating, int) or not 0 <= rating <= MAX_STARS:
        notes.append(f"{name}: rating {rating!r} is not 0-{MAX_STARS}; read as unrated")
        rating = 0
    seed = data.get("seed")
    reserved = {"id", "kind", "model", "created", "seed", "parameters", "files", "rating", "favourite", "bytes"}
    return Item(id=name, folder=folder, kind=str(data.get("kind", "")), model=str(data.get("model", "")),
                created=str(data.get("created", "")), seed=seed if isinstance(seed, int) else None,
                parameters=data.get("parameters") if isinstance(data.get("parameters"), dict) else {},
                files=files, rating=rating, favourite=data.get("favourite") is True, bytes=size,
                extra={k: v for k, v in data.items() if k not in reserved})


def read_items() -> tuple[list[Item], list[str]]:
    """Every readable item, newest first, and notes on what was skipped."""
    notes: list[str] = []
    items = []
    for entry in sorted(gallery_dir().iterdir(), reverse=True):
        if entry.name.startswith("."):
            continue  # our own temporary folders and files
        if not entry.is_dir() or entry.is_symlink():
            notes.append(f"{entry.name}: not a gallery item (a stray file); skipped")
        elif not _ID_RE.match(entry.name):
            notes.append(f"{entry.name}: not a gallery item id; skipped")
        else:
            item = _read_item(entry, notes)
            if item is not None:
                items.append(item)
    return items, notes


def get_item(item_id) -> Item:
    """One item by id; a StudioError naming the id when there is no such item (or it is unreadable)."""
    item_id = check_item_id(item_id)
    folder = gallery_dir() / item_id
    if not folder.is_dir() or folder.is_symlink():
        raise StudioError(f"no gallery item {item_id!r}; /gallery lists them")
    notes: list[str] = []
    item = _read_item(folder, notes)
    if item is None:
        raise StudioError(f"gallery item {item_id!r} cannot be read: {'; '.join(notes)}")
    return item


def new_item_id(now: datetime | None = None) -> str:
    """UTC date and time, then the microseconds (5 hex digits) and 3 random hex digits: ids sort in the
    order items were made, which is the gallery's order."""
    now = now or datetime.now(timezone.utc)
    return f"{now.strftime('%Y%m%d-%H%M%S')}-{now.microsecond:05x}{uuid.uuid4().hex[:3]}"


def add_item(kind: str, model: str, files: list[tuple[str, Path | bytes]], parameters: dict,
             seed: int | None = None, extra: dict | None = None) -> tuple[Item, list[str]]:
    """Store a new item: `files` are (name, source path or bytes) pairs, copied into its folder.

    The item appears whole or not at all (written into a hidden folder, then renamed into place). Returns
    the item and the ids of older items removed to keep the gallery under its size cap."""
    now = datetime.now(timezone.utc)
    item_id = new_item_id(now)
    root = gallery_dir()
    tmp = root / f".incoming-{item_id}"
    tmp.mkdir()
    try:
        names = []
        for name, source in files:
            target = safe_file_name(name)
            while target in names or target == ITEM_FILE:
                target = f"x-{target}"
            if isinstance(source, (bytes, bytearray)):
                (tmp / target).write_bytes(source)
            else:
                shutil.copyfile(source, tmp / target)
            names.append(target)
        data = {"id": item_id, "kind": kind, "model": model, "created": now.isoformat(timespec="seconds"),
                "seed": seed, "parameters": parameters, "files": names, "rating": 0, "favourite": False,
                **(extra or {})}
        _write_json_atomic(tmp / ITEM_FILE, data)
        os.rename(tmp, root / item_id)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    removed = enforce_cap(keep=item_id)
    return get_item(item_id), removed


def update_item(item_id, **fields) -> Item:
    """Change fields of an item's item.json (rating, favourite), atomically."""
    with _lock:
        item = get_item(item_id)
        path = item.folder / ITEM_FILE
        data = json.loads(path.read_text(encoding="utf-8"))
        data.update(fields)
        _write_json_atomic(path, data)
    return get_item(item.id)


def delete_item(item_id) -> None:
    """Remove an item's folder (moved aside first, so it leaves listings at once)."""
    item_id = check_item_id(item_id)
    folder = gallery_dir() / item_id
    if not folder.is_dir() or folder.is_symlink():
        raise StudioError(f"no gallery item {item_id!r}; /gallery lists them")
    trash = gallery_dir() / f".deleted-{item_id}-{uuid.uuid4().hex[:6]}"
    os.rename(folder, trash)
    shutil.rmtree(trash, ignore_errors=True)


def removal_order(items: list[Item]) -> list[Item]:
    """Which items go first when the gallery is over its cap: unrated ones, oldest first; then rated ones
    from the lowest rating up, oldest first within a rating. Favourites are never in the list."""
    candidates = [i for i in items if not i.favourite]
    return sorted(candidates, key=lambda i: (i.rating > 0, i.rating, i.created, i.id))


def total_bytes() -> int:
    """The size of every file in the gallery's item folders (a quick walk: no item.json is read)."""
    total = 0
    with os.scandir(gallery_dir()) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False) and not entry.name.startswith("."):
                with os.scandir(entry.path) as files:
                    total += sum(f.stat().st_size for f in files if f.is_file(follow_symlinks=False))
    return total


def enforce_cap(keep: str | None = None) -> list[str]:
    """Remove items in `removal_order` until the gallery is within STUDIO_GALLERY_MB; returns their ids.
    The item `keep` (the one just made) stays."""
    limit = environment().gallery_mb * 1024 * 1024
    if total_bytes() <= limit:
        return []  # the usual case, decided without reading any item
    with _lock:
        items, _ = read_items()
        total = sum(i.bytes for i in items)
        removed = []
        for item in removal_order(items):
            if total <= limit:
                break
            if item.id == keep:
                continue
            delete_item(item.id)
            total -= item.bytes
            removed.append(item.id)
    return removed
