"""The gallery: everything the tabs make, kept with its parameters, rated and filtered. The functions behind
the Gallery tab and the `/gallery`, `/gallery_item`, `/rate` and `/gallery_delete` endpoints.

Services that make outputs call `save_to_gallery(kind, files, parameters, ...)` once per output (an image, an
animation, a stylised picture, a text; a tune once music exists), so every way in (tab, endpoint, command
line) fills the same gallery. Items live under `STUDIO_HOME/gallery/` (`studio.core.gallery`), survive
restarts, and are removed only by the artist or by the size cap (oldest unrated first, never favourites).
"""
from __future__ import annotations

import logging
from datetime import date, datetime
from pathlib import Path

from ..core import gallery as store
from ..core.errors import StudioError, check_number

log = logging.getLogger("studio.gallery")

# The tab that made an item. Music is listed so its tab can save tunes as soon as it exists.
KINDS = ("generate", "interpolate", "style", "write", "music")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif")
MAX_LIST = 1000
TEXT_IN_RECORD = 20_000  # characters of a text item returned with its record


def save_to_gallery(kind: str, files: list[str | Path] | None = None, parameters: dict | None = None, *,
                    model: str = "", seed: int | None = None, text: str | None = None,
                    preview: str | Path | None = None) -> str | None:
    """Keep one output in the gallery; returns its item id (None when the disk refused it: logged, and the
    output is still returned to whoever made it).

    `kind` is the tab that made it (one of KINDS); `files` its files (copied); `text` a text output, stored as
    text.txt; `preview` the file to show for it in lists (by default its first image). `parameters` are what
    made it, as its tab's "reuse parameters" needs them; `model` and `seed` are kept apart for filtering.
    """
    if kind not in KINDS:
        raise StudioError(f"gallery kind must be one of {', '.join(KINDS)}; got {kind!r}")
    entries: list[tuple[str, Path | bytes]] = []
    if preview is not None:
        entries.append((Path(preview).name, Path(preview)))
    entries += [(Path(f).name, Path(f)) for f in (files or []) if preview is None or Path(f) != Path(preview)]
    if text is not None:
        entries.append(("text.txt", str(text).encode("utf-8")))
        if preview is None and not any(Path(f).suffix.lower() in IMAGE_SUFFIXES for f in files or []):
            entries.insert(0, ("preview.png", text_card(str(text))))
    if not entries:
        raise StudioError("nothing to keep: give files or a text")
    try:
        item, removed = store.add_item(kind, model, entries, dict(parameters or {}),
                                       seed=seed if isinstance(seed, int) else None)
    except OSError as exc:
        # The output itself is made and returned; a full or read-only disk must not lose it.
        log.warning("could not keep a %s output in the gallery: %s", kind, exc)
        return None
    if removed:
        log.info("gallery over its size cap (STUDIO_GALLERY_MB): removed %d older items", len(removed))
    return item.id


def text_card(text: str, width: int = 320, height: int = 240) -> bytes:
    """A PNG showing the start of a text, so text items have a picture in the gallery's grid."""
    import io
    import textwrap

    from PIL import Image, ImageDraw, ImageFont

    card = Image.new("RGB", (width, height), (250, 248, 240))
    draw = ImageDraw.Draw(card)
    font = ImageFont.load_default(size=14)
    lines = [w for para in text.splitlines() for w in (textwrap.wrap(para, 38) or [""])][:13]
    draw.multiline_text((12, 10), "\n".join(lines), fill=(40, 40, 40), font=font, spacing=3)
    buffer = io.BytesIO()
    card.save(buffer, format="PNG")
    return buffer.getvalue()


def _preview(item: store.Item) -> str | None:
    for path in item.files:
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return str(path)
    return None


def _record(item: store.Item) -> dict:
    record = item.record()
    record["preview"] = _preview(item)
    texts = [p for p in item.files if p.name == "text.txt"]
    if texts:
        record["text"] = texts[0].read_text(encoding="utf-8", errors="replace")[:TEXT_IN_RECORD]
    return record


def _day(value, name: str) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise StudioError(f"{name} must be a date like 2026-11-23; got {value!r}") from None


def _created_day(created: str) -> date | None:
    try:
        return date.fromisoformat(created[:10])
    except ValueError:
        return None  # a hand-edited item.json: it passes no date filter


def list_gallery(kind: str | None = None, model: str | None = None, min_rating: int | None = None,
                 favourites: bool = False, since=None, until=None, limit: int = MAX_LIST
                 ) -> tuple[list[dict], list[str]]:
    """Gallery records, newest first, and notes on what was skipped (a folder edited by hand).

    Filters: `kind` (a tab: generate, interpolate, style, write, music), `model` (exact name), `min_rating`
    (0-5 stars), `favourites` (only favourites), `since` / `until` (dates, inclusive, UTC, "2026-11-23").
    At most `limit` records (1-1000)."""
    if kind not in (None, "") and kind not in KINDS:
        raise StudioError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    low = store.check_stars(min_rating) if min_rating not in (None, "") else 0
    limit = check_number("limit", limit if limit not in (None, "") else MAX_LIST, 1, MAX_LIST, whole=True)
    first, last = _day(since, "since"), _day(until, "until")
    items, notes = store.read_items()
    out = []
    for item in items:
        made = _created_day(item.created)
        if kind and item.kind != kind or model and item.model != model or item.rating < low \
                or favourites and not item.favourite \
                or first and (made is None or made < first) or last and (made is None or made > last):
            continue
        out.append(_record(item))
        if len(out) >= limit:
            break
    return out, notes


def gallery_item(item) -> dict:
    """One item's record (with its files' paths)."""
    return _record(store.get_item(item))


def rate(item, stars=None, favourite=None) -> dict:
    """Rate an item 0-5 whole stars (0: unrated) and/or mark it a favourite; None leaves a field as it is.
    Returns the updated record."""
    fields = {}
    if stars not in (None, ""):
        fields["rating"] = store.check_stars(stars)
    if favourite not in (None, ""):
        if isinstance(favourite, str):
            if favourite.strip().lower() not in ("true", "false"):
                raise StudioError(f"favourite must be true or false; got {favourite!r}")
            favourite = favourite.strip().lower() == "true"
        fields["favourite"] = bool(favourite)
    store.check_item_id(item)
    if not fields:
        raise StudioError("give stars (0-5) or favourite (true or false)")
    return _record(store.update_item(item, **fields))


def delete_from_gallery(item) -> str:
    """Remove an item and its files for good."""
    record = gallery_item(item)
    store.delete_item(record["id"])
    return f"deleted gallery item {record['id']}"


def favourite_items(model: str, kind: str | None = None) -> list[dict]:
    """Every favourite made by `model` (optionally of one kind), oldest first."""
    items, _ = list_gallery(kind=kind, model=model, favourites=True)
    return list(reversed(items))
