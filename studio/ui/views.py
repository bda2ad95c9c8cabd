"""Readable views of the studio's data for people: key/value tables, model tables, durations.

The page shows these; the raw JSON stays one click away (an accordion) and is what the API returns.
"""
from __future__ import annotations

import html
import json


def _cell(value) -> str:
    if isinstance(value, float):
        text = f"{value:.6g}"
    elif isinstance(value, (list, tuple)):
        shown = ", ".join(_cell(v) if not isinstance(v, (dict, list)) else json.dumps(v) for v in value[:12])
        text = shown + (f", ... ({len(value)} in all)" if len(value) > 12 else "")
    elif isinstance(value, dict):
        text = ", ".join(f"{k}: {_cell(v)}" for k, v in value.items())
    elif value is None:
        text = "-"
    else:
        text = str(value)
    return text


def key_values(data: dict | None, skip: tuple[str, ...] = ()) -> str:
    """A two-column HTML table (name, value) of a flat-ish dict; nested values are written inline."""
    if not data:
        return ""
    rows = "".join(f"<tr><th>{html.escape(str(k).replace('_', ' '))}</th><td>{html.escape(_cell(v))}</td></tr>"
                   for k, v in data.items() if k not in skip)
    return f'<table class="kv">{rows}</table>'


def duration(seconds: float | None) -> str:
    """'2 min 05 s', '45 s', '1 h 03 min' for a number of seconds."""
    if seconds is None:
        return "-"
    s = max(0, int(round(seconds)))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"
