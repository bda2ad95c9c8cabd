"""The model store: one folder per model, shaped like a Hugging Face Hub repository.

    <models dir>/<name>/
        studio.json        family, format version, created, shapes, recipe, dataset, metrics
        model.safetensors  weights (or a diffusers / transformers `save_pretrained` layout)
        samples.png        a grid of samples
        README.md          a model card with YAML front-matter

Two roots are listed together: shipped models in `checkpoints/` (read-only) and the user's own models in
`$STUDIO_HOME/models` (writable). Saving writes into a hidden folder beside the models and renames it into
place, so a crash mid-save never leaves a half-written model listed.

The store knows folders and files, not networks: writing a model's weights, loading it, and checking an
imported archive's weights are done through its family, one floor up (`studio.services.models`), which
hands the store the callbacks that do it.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import threading
import uuid
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from .. import __version__
from .environment import environment
from .errors import StudioError
from .leftovers import sweep, writer_prefix
from .outputs import new_output_dir
from .zips import ARCHIVE_ERRORS, damaged, open_zip

FORMAT_VERSION = 1
NAME_RULE = "letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64 characters"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# Files a model folder may hold. Anything else, and pickle formats above all, is refused on import. (.py: the
# standalone network file that lets the folder load without the studio; the studio never runs it.)
ALLOWED_SUFFIXES = {".json", ".safetensors", ".png", ".jpg", ".jpeg", ".webp", ".md", ".txt", ".model", ".py",
                    ".gguf", ".yaml", ".yml"}
PICKLE_SUFFIXES = {".pt", ".pth", ".ckpt", ".bin", ".pkl", ".pickle", ".joblib", ".npy", ".npz", ".h5"}
ALLOWED_PLAIN_NAMES = {".gitattributes", "LICENSE", "LICENCE"}
MAX_IMPORT_ENTRIES = 256  # a model folder holds about ten files; a diffusers pipeline a dozen
# Files other than weights are read whole (configs, tokenizers, cards, samples): each has a size cap.
WEIGHT_SUFFIXES = {".safetensors", ".gguf"}
MAX_FILE_BYTES = {".md": 1 << 20, ".json": 64 << 20}
MAX_OTHER_FILE_BYTES = 32 << 20
MAX_META_BYTES = 1 << 20  # studio.json
_INCOMING = ".incoming"


def read_json(path: Path, most_bytes: int = MAX_META_BYTES) -> dict:
    """A JSON object from a file of at most `most_bytes`, or a StudioError saying what is wrong with it."""
    try:
        if path.stat().st_size > most_bytes:
            raise StudioError(f"{path.name} is larger than {most_bytes >> 10} KB")
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StudioError(f"{path.name} is missing") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StudioError(f"{path.name} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise StudioError(f"{path.name} must hold a JSON object")
    return data


def check_name(name: str | None) -> str:
    """Return `name` if it is a valid model name; otherwise raise StudioError. Names are never rewritten."""
    if name is None or not str(name).strip():
        raise StudioError("give the model a name (" + NAME_RULE + ")")
    name = str(name)
    if name != name.strip():
        raise StudioError(f"model name {name!r} has spaces at its ends; use {NAME_RULE}")
    if ".." in name or not _NAME_RE.match(name):
        raise StudioError(f"model name {name!r} is not allowed; use {NAME_RULE}, and no '..'")
    return name


@dataclass
class ModelRecord:
    name: str
    path: Path
    shipped: bool
    meta: dict

    @property
    def family(self) -> str:
        return self.meta["family"]

    def summary(self) -> dict:
        """The public record returned by `/models`: plain JSON values only."""
        shapes = self.meta.get("shapes", {})
        return {
            "name": self.name,
            "family": self.family,
            "kind": self.meta.get("kind", "image"),
            "source": "shipped" if self.shipped else "user",
            "created": self.meta.get("created", ""),
            **{k: v for k, v in shapes.items() if isinstance(v, (int, float, str))},
            "dataset": self.meta.get("dataset", {}).get("name", ""),
        }


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())


def weights_hash(folder: Path) -> str:
    """A short SHA-256 over the model's weight files, to say exactly which weights made an image."""
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*.safetensors")) + sorted(folder.rglob("*.gguf")):
        h.update(path.relative_to(folder).as_posix().encode())
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


class Registry:
    def __init__(self, models_dir: Path | None = None, checkpoints_dir: Path | None = None):
        env = environment()
        self.models_dir = Path(models_dir or env.models_dir)
        self.checkpoints_dir = Path(checkpoints_dir or env.checkpoints)
        self.models_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._clean_stale_incoming()

    # -- reading --------------------------------------------------------------------------------
    def _records_in(self, root: Path, shipped: bool) -> list[ModelRecord]:
        records = []
        if not root.is_dir():
            return records
        for folder in sorted(root.iterdir()):
            if folder.name.startswith(".") or not folder.is_dir() or not (folder / "studio.json").is_file():
                continue
            try:
                meta = read_json(folder / "studio.json")
                meta["family"], meta["name"] = str(meta["family"]), folder.name
            except (StudioError, KeyError):
                continue  # a foreign or broken folder is not a model; `info` on it explains why
            records.append(ModelRecord(folder.name, folder, shipped, meta))
        return records

    def list(self, family: str | None = None, kind: str | None = None) -> list[ModelRecord]:
        """Every model, shipped first, then the user's, each sorted by name; optionally one family or kind."""
        records = self._records_in(self.checkpoints_dir, True) + self._records_in(self.models_dir, False)
        return [r for r in records
                if (family is None or r.family == family) and (kind is None or r.meta.get("kind") == kind)]

    def get(self, name: str) -> ModelRecord:
        if not name:
            raise StudioError("choose a model")
        for record in self.list():
            if record.name == name:
                return record
        raise StudioError(f"no model named {name!r}; see the Models tab or /models for the list")

    def exists(self, name: str) -> bool:
        return any(r.name == name for r in self.list())

    def info(self, name: str) -> dict:
        """Everything known about a model: its summary, studio.json and model card text."""
        record = self.get(name)
        card = record.path / "README.md"
        files = sorted(p.relative_to(record.path).as_posix() for p in record.path.rglob("*") if p.is_file())
        return {**record.summary(), "meta": record.meta, "files": files,
                "card": card.read_text(encoding="utf-8") if card.is_file() else ""}

    # -- writing --------------------------------------------------------------------------------
    def _check_free(self, name: str) -> None:
        if self.exists(name) or (self.models_dir / name).exists():
            raise StudioError(f"a model named {name!r} already exists; choose another name or delete it first")

    def _user_record(self, name: str) -> ModelRecord:
        record = self.get(name)
        if record.shipped:
            raise StudioError(f"{name!r} is a shipped model and read-only; export it and import it under "
                              "a new name to change it")
        return record

    def _incoming_dir(self) -> Path:
        # Named after this process (core.leftovers), so a later start-up knows which leftovers are dead.
        folder = self.models_dir / _INCOMING / f"{writer_prefix()}-{uuid.uuid4().hex}"
        folder.mkdir(parents=True)
        return folder

    def _clean_stale_incoming(self) -> list[str]:
        """Remove half-written saves and imports left by a process that died (a crash or a kill mid-save):
        those whose writer is gone, and any older than an hour. A training worker saving right now (another
        process, alive) keeps its folder. Returns the names removed."""
        return sweep(self.models_dir / _INCOMING)

    def clean_incoming(self) -> list[str]:
        """What start-up runs: `_clean_stale_incoming` (also run whenever a registry is opened)."""
        return self._clean_stale_incoming()

    def _publish(self, tmp: Path, name: str) -> ModelRecord:
        _fsync_tree(tmp)
        final = self.models_dir / name
        with self._lock:
            self._check_free(name)
            os.rename(tmp, final)  # atomic on one file system: the model appears whole or not at all
        return self.get(name)

    def save(self, name: str, family: str, meta: dict, write_files: Callable[[Path, dict], None]) -> ModelRecord:
        """Save a new user model atomically: `write_files(folder, meta)` writes its weights, card and samples
        into a hidden folder, given the full studio.json (`meta` plus family, name, format version, created
        time and studio version), which is then added, and the folder is renamed into place."""
        check_name(name)
        self._check_free(name)
        tmp = self._incoming_dir()
        try:
            full = {"format_version": FORMAT_VERSION, "name": name, "family": family,
                    "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "studio_version": __version__, **meta}
            write_files(tmp, full)
            (tmp / "studio.json").write_text(json.dumps(full, indent=2, sort_keys=False), encoding="utf-8")
            return self._publish(tmp, name)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def delete(self, name: str) -> None:
        record = self._user_record(name)
        # Move aside first so the model disappears from listings at once, then remove.
        trash = self.models_dir / _INCOMING / f"{writer_prefix()}-deleted-{uuid.uuid4().hex}"
        trash.parent.mkdir(parents=True, exist_ok=True)
        os.rename(record.path, trash)
        shutil.rmtree(trash, ignore_errors=True)

    def rename(self, name: str, new_name: str, rewrite: Callable[[Path, dict], None] | None = None) -> ModelRecord:
        """Rename a user model; `rewrite(folder, meta)` then refreshes files that name it (its card)."""
        record = self._user_record(name)
        check_name(new_name)
        if new_name == name:
            return record
        with self._lock:
            self._check_free(new_name)
            meta_path = record.path / "studio.json"
            meta = read_json(meta_path)
            meta["name"] = new_name
            tmp_meta = record.path / ".studio.json.tmp"
            tmp_meta.write_text(json.dumps(meta, indent=2), encoding="utf-8")
            os.replace(tmp_meta, meta_path)
            os.rename(record.path, self.models_dir / new_name)
        if rewrite is not None:
            rewrite(self.models_dir / new_name, meta)
        return self.get(new_name)

    # -- zip archives ---------------------------------------------------------------------------
    def export_zip(self, name: str, dest_dir: Path | None = None) -> Path:
        """Write `<name>.zip` holding the folder `<name>/`; returns its path."""
        record = self.get(name)
        dest_dir = Path(dest_dir) if dest_dir else new_output_dir("export")
        dest_dir.mkdir(parents=True, exist_ok=True)
        target = dest_dir / f"{name}.zip"
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(record.path.rglob("*")):
                if path.is_file() and not path.is_symlink():
                    zf.write(path, f"{name}/{path.relative_to(record.path).as_posix()}")
        return target

    def import_zip(self, archive: str | Path, name: str | None = None,
                   check: Callable[[Path, dict], None] | None = None) -> ModelRecord:
        """Import a model exported by a studio (or any folder of the same shape, zipped).

        Refuses pickle files, unknown file types, links, paths that leave the folder, archives over the
        size limit (compressed or uncompressed), and a missing or invalid studio.json. `check(folder, meta)`
        then proves the unpacked model sound (its family loads it) before it is listed; it may add files
        (a model card) and raises StudioError to refuse.
        """
        limit = environment().max_import_mb * 1024 * 1024
        archive = Path(archive)
        if not archive.is_file():
            raise StudioError("choose a .zip file to import")
        if archive.stat().st_size > limit:
            raise StudioError(f"{archive.name} is larger than the {limit >> 20} MB import limit (STUDIO_MAX_IMPORT_MB)")
        try:
            zf = open_zip(archive, MAX_IMPORT_ENTRIES)
        except StudioError as exc:
            raise StudioError(f"{exc}; export a model from the Models tab to get a studio model zip") from None
        with zf:
            members = self._check_members(zf, limit)
            tmp = self._incoming_dir()
            try:
                for info, rel in members:
                    target = tmp / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    self._extract_capped(zf, info, target, limit)
                meta_path = tmp / "studio.json"
                if not meta_path.is_file():
                    raise StudioError("the archive has no studio.json at its top; it is not a studio model")
                meta = read_json(meta_path)
                family = meta.get("family")
                if not isinstance(family, str):
                    raise StudioError("studio.json names no model family")
                version = meta.get("format_version")
                if not isinstance(version, int) or version > FORMAT_VERSION:
                    raise StudioError(f"studio.json has format version {version!r}; this studio reads up to "
                                      f"{FORMAT_VERSION}: update the studio to import it")
                if not isinstance(meta.get("config"), dict):
                    raise StudioError("studio.json has no model config")
                name = check_name(name or meta.get("name"))
                self._check_free(name)
                meta["name"] = name
                if check is not None:
                    check(tmp, meta)
                meta_path.write_text(json.dumps(meta, indent=2), encoding="utf-8")
                return self._publish(tmp, name)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise

    @staticmethod
    def _check_members(zf: zipfile.ZipFile, limit: int) -> list[tuple[zipfile.ZipInfo, str]]:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if not infos:
            raise StudioError("the archive is empty")
        total = 0
        names = []
        for info in infos:
            raw = info.filename.replace("\\", "/")
            parts = [p for p in raw.split("/") if p not in ("", ".")]
            if raw.startswith("/") or re.match(r"^[A-Za-z]:", raw) or ".." in parts or not parts:
                raise StudioError(f"the archive entry {info.filename!r} points outside the model folder; refused")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise StudioError(f"the archive entry {info.filename!r} is a link; refused")
            total += info.file_size
            if total > limit:
                raise StudioError(f"the archive unpacks to more than the {limit >> 20} MB import limit; refused")
            names.append(parts)
        # An exported archive holds one top folder `<name>/`; a zipped folder's contents also work.
        tops = {p[0] for p in names}
        strip = len(tops) == 1 and all(len(p) > 1 for p in names)
        members = []
        for info, parts in zip(infos, names):
            rel_parts = parts[1:] if strip else parts
            rel = "/".join(rel_parts)
            leaf = rel_parts[-1]
            suffix = Path(leaf).suffix.lower()
            if suffix in PICKLE_SUFFIXES:
                raise StudioError(f"the archive holds {rel!r}, a pickle-format file ({suffix}); pickle can run "
                                  "code when loaded, so the studio only imports safetensors weights")
            if suffix not in ALLOWED_SUFFIXES and leaf not in ALLOWED_PLAIN_NAMES:
                raise StudioError(f"the archive holds {rel!r}, a file type a model folder does not use; "
                                  f"allowed: {', '.join(sorted(ALLOWED_SUFFIXES))}")
            most = MAX_FILE_BYTES.get(suffix, MAX_OTHER_FILE_BYTES)
            if suffix not in WEIGHT_SUFFIXES and info.file_size > most:
                raise StudioError(f"the archive holds {rel!r} of {info.file_size >> 20} MB; files other than "
                                  f"weights may be at most {most >> 20} MB")
            members.append((info, rel))
        return members

    @staticmethod
    def _extract_capped(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, limit: int) -> None:
        # The sizes in a zip's directory can lie; count the bytes actually unpacked. A stated size larger
        # than the data, a bad checksum or a broken stream is the same plain refusal.
        written = 0
        try:
            with zf.open(info) as src, open(target, "wb") as dst:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    written += len(chunk)
                    if written > limit or written > info.file_size:
                        raise StudioError(f"{info.filename!r} unpacks to more than its stated size; refused")
                    dst.write(chunk)
        except ARCHIVE_ERRORS:
            raise damaged(f"the archive (at {info.filename!r})") from None
        if written != info.file_size:
            raise damaged(f"the archive (at {info.filename!r})")


_default: Registry | None = None
_default_lock = threading.Lock()


def default_registry() -> Registry:
    """The registry for this process, at the locations the environment gives."""
    global _default
    with _default_lock:
        env = environment()
        if _default is None or _default.models_dir != env.models_dir or _default.checkpoints_dir != env.checkpoints:
            _default = Registry()
        return _default
