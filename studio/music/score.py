"""Engraving a tune: verovio reads ABC and writes an SVG score on the server.

Chosen over abcjs (a browser library, which would have to be served by the app and would give `/compose`
callers no score) and music21's own output (which needs MuseScore or LilyPond installed): verovio's wheel
is self-contained, reads ABC directly, takes about 10 ms for a tune here (benchmarks/results/abc-*.md),
and its SVG draws every glyph as a path, so the page needs no font and no script.

verovio runs in a child process (`python -m studio.music.score`, ABC in, SVG out): its ABC reader is C++
and crashed the whole process on some tunes here (a segmentation fault on a folk tune), which in the
server would take the studio down. A crash or a hang in the child becomes a StudioError.
"""
from __future__ import annotations

import re
import subprocess
import sys
import threading

from ..core.errors import StudioError

TIMEOUT_S = 60

_LOCK = threading.Lock()  # one verovio toolkit, used by one request at a time
_TOOLKIT = None


def _toolkit():
    global _TOOLKIT
    if _TOOLKIT is None:
        try:
            import verovio
        except ImportError as exc:  # pragma: no cover - verovio is a requirement
            raise StudioError("the score needs verovio: pip install verovio==6.4.1") from exc
        verovio.enableLog(verovio.LOG_ERROR)  # its warnings (fields it ignores) would fill the server log
        _TOOLKIT = verovio.toolkit()
    return _TOOLKIT


def render_svg(abc_text: str, width: int = 2100) -> str:
    """The tune's score as one SVG document (all pages stacked), engraved in a child process."""
    try:
        done = subprocess.run([sys.executable, "-m", "studio.music.score", str(int(width))], input=abc_text,
                              capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise StudioError(f"verovio did not engrave the tune within {TIMEOUT_S} s") from None
    if done.returncode != 0 or not done.stdout.startswith("<svg"):
        why = done.stderr.strip().splitlines()[-1:] or [f"it stopped with code {done.returncode}"]
        raise StudioError(f"verovio could not engrave the tune: {why[0][:300]}")
    return done.stdout


def render_svg_here(abc_text: str, width: int = 2100) -> str:
    """The tune's score as one SVG document (all pages stacked), `width` in verovio units (about 10 per px
    at scale 40), engraved in this process."""
    with _LOCK:
        tk = _toolkit()
        tk.setOptions({"inputFrom": "abc", "pageWidth": width, "adjustPageHeight": True, "scale": 40,
                       "header": "auto", "footer": "none", "breaks": "auto", "pageMarginTop": 40,
                       "pageMarginBottom": 40})
        if not tk.loadData(abc_text) or tk.getPageCount() < 1:
            raise StudioError(f"verovio could not engrave the tune: {tk.getLog().strip()[:300]}")
        pages = [tk.renderToSVG(i) for i in range(1, tk.getPageCount() + 1)]
    if len(pages) == 1:
        return pages[0]
    return _stack(pages)


def _stack(pages: list[str]) -> str:
    """Several page SVGs as one tall SVG (nested <svg> elements, one under the other)."""
    sizes = [tuple(int(v) for v in re.search(r'width="(\d+)px" height="(\d+)px"', p).groups()) for p in pages]
    width, height = max(w for w, _ in sizes), sum(h for _, h in sizes)
    body, y = [], 0
    for page, (_, h) in zip(pages, sizes):
        body.append(re.sub(r"^<svg ", f'<svg y="{y}" ', page.strip(), count=1))
        y += h
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}px" height="{height}px" '
            f'viewBox="0 0 {width} {height}">' + "".join(body) + "</svg>")


if __name__ == "__main__":  # the child process: ABC on stdin, SVG on stdout
    try:
        sys.stdout.write(render_svg_here(sys.stdin.read(), int(sys.argv[1]) if len(sys.argv) > 1 else 2100))
    except StudioError as exc:
        print(exc, file=sys.stderr)
        sys.exit(1)
