"""Opening zip archives from strangers: the entry count is capped before Python parses the directory, and
every way reading an archive can fail becomes one plain refusal.

`zipfile.ZipFile` reads the whole central directory into memory when it opens an archive, one object per
entry, so a file of a few hundred megabytes listing millions of empty entries costs gigabytes before any
check can run. The end-of-directory record (the last 22 bytes, or up to 64 KB more with a comment) states
the entry count and the directory's size; it is read here first. That record is parsed by hand because
`zipfile` keeps its parser private (`_EndRecData`).
"""
from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path

from .errors import StudioError

_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_EOCD64 = b"PK\x06\x06"
MIN_ENTRY_BYTES = 46  # a central directory entry without its name

# What reading a damaged or lying archive raises: bad headers, checksums, truncated deflate streams,
# unsupported compression or encryption.
ARCHIVE_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError,
                  struct.error, zipfile.LargeZipFile)


def damaged(name: str) -> StudioError:
    return StudioError(f"{name} is damaged or not a plain zip archive (a stored size, checksum or header does "
                       "not match its contents); zip the files again")


def directory_facts(path: Path) -> tuple[int, int]:
    """(entries, central directory bytes) as the archive's end record states them."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        tail_start = max(0, size - (22 + 65535))
        f.seek(tail_start)
        tail = f.read()
        at = tail.rfind(_EOCD)
        if at < 0 or len(tail) - at < 22:
            raise zipfile.BadZipFile("no end of central directory")
        _, _, _, _, entries, dir_bytes, _, _ = struct.unpack("<4s4H2LH", tail[at:at + 22])
        if entries == 0xFFFF or dir_bytes == 0xFFFFFFFF:  # zip64: the real figures are in another record
            loc = at - 20
            if loc < 0 or tail[loc:loc + 4] != _EOCD64_LOCATOR:
                raise zipfile.BadZipFile("zip64 locator missing")
            _, _, offset, _ = struct.unpack("<4sLQL", tail[loc:loc + 20])
            f.seek(offset)
            record = f.read(56)
            if len(record) < 56 or record[:4] != _EOCD64:
                raise zipfile.BadZipFile("zip64 record missing")
            _, _, _, _, _, _, _, entries, dir_bytes, _ = struct.unpack("<4sQ2H2L4Q", record)
    return entries, dir_bytes


def open_zip(path: Path, max_entries: int, name: str | None = None) -> zipfile.ZipFile:
    """A ZipFile for `path` holding at most `max_entries` entries, or a StudioError; the cap is checked from
    the end record before the directory is parsed, and again on the parsed list (the record can lie)."""
    name = name or path.name
    try:
        entries, dir_bytes = directory_facts(path)
        if entries > max_entries or dir_bytes > max_entries * (MIN_ENTRY_BYTES + 1024):
            raise StudioError(f"{name} holds {entries:,} entries; the limit is {max_entries:,}")
        zf = zipfile.ZipFile(path)
    except StudioError:
        raise
    except (OSError, *ARCHIVE_ERRORS):
        raise StudioError(f"{name} is not a valid zip archive (not a zip, or a damaged one)") from None
    count = len(zf.infolist())
    if count > max_entries:
        zf.close()
        raise StudioError(f"{name} holds {count:,} entries; the limit is {max_entries:,}")
    return zf
