"""Zip archives of training data, read safely: one reader for images and text alike.

A zip's directory can lie about its sizes, and an archive can hold millions of entries or unpack to far
more than it weighs; each limit below is checked while reading, so a hostile archive is refused cheaply.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from ..core.errors import StudioError
from ..core.zips import ARCHIVE_ERRORS, damaged, open_zip

MAX_ZIP_MEMBERS = 100_000
MAX_ZIP_UNPACKED = 2 << 30   # 2 GiB unpacked per archive
MAX_MEMBER_BYTES = 64 << 20  # one file inside an archive


def zip_members(path: Path, suffixes: set[str], wrong_type: str, max_bytes: int = MAX_MEMBER_BYTES
                ) -> Iterator[tuple[str, bytes | None, str]]:
    """Yield (name, bytes or None, why skipped) for each file in a zip whose name ends in one of `suffixes`,
    in name order, refusing bombs: too many members, more than MAX_ZIP_UNPACKED in all, or a member over
    `max_bytes` (counted while reading, since a zip's stated sizes can lie). Operating-system clutter
    (dot files, __MACOSX) is passed over silently; other file types are reported with `wrong_type`."""
    zf = open_zip(path, MAX_ZIP_MEMBERS)
    with zf:
        infos = sorted((i for i in zf.infolist() if not i.is_dir()), key=lambda i: i.filename)
        total = 0
        for info in infos:
            name = f"{path.name}/{info.filename}"
            base = Path(info.filename).name
            if base.startswith(".") or "__MACOSX" in info.filename:
                continue
            if Path(base).suffix.lower() not in suffixes:
                yield name, None, wrong_type
                continue
            if info.file_size > max_bytes:
                yield name, None, f"larger than {max_bytes >> 20} MB"
                continue
            total += info.file_size
            if total > MAX_ZIP_UNPACKED:
                raise StudioError(f"{path.name} unpacks to more than {MAX_ZIP_UNPACKED >> 30} GB; refused")
            try:
                with zf.open(info) as f:
                    data = f.read(max_bytes + 1)
            except ARCHIVE_ERRORS:
                raise damaged(f"{path.name} (at {info.filename!r})") from None
            if len(data) > max_bytes:
                yield name, None, "unpacks to more than its stated size"
                continue
            yield name, data, ""


