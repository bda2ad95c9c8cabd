"""The live loss chart of a training job, drawn as inline SVG.

Written by hand because Gradio 6.31's `gr.LinePlot` is unreliable for a chart whose data arrives while it is
shown: measured in Chromium, a plot whose first value is empty never draws the lines of later values, and
its colour legend is clipped to its title, so three curves show one name. This chart is one SVG string:
one line per loss in its own colour, a legend naming each with its latest value, a few round-numbered
ticks. Each line carries its points in `data-points` ("step,value;..."), so tests read what is drawn.
"""
from __future__ import annotations

import html
import math

# Colour-blind-safe palette (Okabe and Ito), in the order losses first appear.
COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442", "#000000"]
MAX_POINTS = 400  # per line; longer runs are thinned evenly (the last point is always kept)


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round numbers (1, 2 or 5 times a power of ten apart) covering [low, high]."""
    if high <= low:
        return [low]
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def _label(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 10_000 or abs(value) < 0.001:
        return f"{value:.0e}"
    return f"{value:.4g}"


def series(rows: list[dict]) -> dict[str, list[tuple[float, float]]]:
    """{loss name: [(step, value), ...]} from logged rows {"step": s, name: value, ...}; non-finite values
    (a diverged step) are left out."""
    lines: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        step = row.get("step")
        if not isinstance(step, (int, float)):
            continue
        for name, value in row.items():
            if name != "step" and isinstance(value, (int, float)) and math.isfinite(value):
                lines.setdefault(name, []).append((float(step), float(value)))
    return lines


def _thin(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    if len(points) <= MAX_POINTS:
        return points
    stride = len(points) / MAX_POINTS
    return [points[int(i * stride)] for i in range(MAX_POINTS - 1)] + [points[-1]]


def loss_chart(rows: list[dict], width: int = 720, height: int = 260) -> str:
    """HTML: a legend and an SVG line chart of every loss in `rows` against the step. Empty rows give a
    short note instead of an empty frame."""
    lines = {name: _thin(points) for name, points in series(rows).items()}
    if not lines:
        return '<div class="loss-chart empty">No losses logged yet: the first appear after a few steps.</div>'
    left, right, top, bottom = 56, 12, 10, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    steps = [s for points in lines.values() for s, _ in points]
    values = [v for points in lines.values() for _, v in points]
    x0, x1 = min(0.0, min(steps)), max(max(steps), 1.0)  # from step 0, so the chart grows to the right
    y0, y1 = min(values), max(values)
    pad = (y1 - y0) * 0.05 or abs(y1) * 0.05 or 1.0
    y0, y1 = y0 - pad, y1 + pad

    def x(step: float) -> float:
        return left + (step - x0) / (x1 - x0) * plot_w

    def y(value: float) -> float:
        return top + (1 - (value - y0) / (y1 - y0)) * plot_h

    parts = [f'<svg class="loss-svg" viewBox="0 0 {width} {height}" width="100%" role="img" '
             f'aria-label="training losses against step" preserveAspectRatio="xMidYMid meet">']
    for tick in _ticks(y0, y1):
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" class="grid"/>'
                     f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{_label(tick)}</text>')
    for tick in _ticks(x0, x1, 6):
        parts.append(f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top}" y2="{top + plot_h}" class="grid"/>'
                     f'<text x="{x(tick):.1f}" y="{height - bottom + 16}" text-anchor="middle">{int(tick)}</text>')
    parts.append(f'<text x="{left + plot_w / 2}" y="{height - 4}" text-anchor="middle" class="axis">step</text>')
    legend = []
    for i, (name, points) in enumerate(lines.items()):
        colour = COLOURS[i % len(COLOURS)]
        drawn = " ".join(f"{x(s):.1f},{y(v):.1f}" for s, v in points)
        data = ";".join(f"{s:g},{v:.6g}" for s, v in points)
        parts.append(f'<polyline points="{drawn}" stroke="{colour}" data-loss="{html.escape(name)}" '
                     f'data-points="{data}"/>')
        last_x, last_y = x(points[-1][0]), y(points[-1][1])  # the latest value, visible from the first point
        parts.append(f'<circle cx="{last_x:.1f}" cy="{last_y:.1f}" r="3" fill="{colour}"/>')
        legend.append(f'<span class="entry" data-loss="{html.escape(name)}"><span class="swatch" '
                      f'style="background:{colour}"></span>{html.escape(name)} '
                      f'<span class="latest">{_label(points[-1][1])}</span></span>')
    parts.append("</svg>")
    return f'<div class="loss-chart"><div class="legend">{"".join(legend)}</div>{"".join(parts)}</div>'


CSS = """
.loss-chart { font-size: 12px; }
.loss-chart.empty { color: var(--body-text-color-subdued); padding: 1em 0; }
.loss-chart .legend { display: flex; flex-wrap: wrap; gap: 4px 16px; margin-bottom: 4px; }
.loss-chart .swatch { display: inline-block; width: 14px; height: 3px; margin-right: 5px; vertical-align: middle; }
.loss-chart .latest { color: var(--body-text-color-subdued); }
.loss-svg text { fill: var(--body-text-color-subdued); font-size: 11px; }
.loss-svg .grid { stroke: var(--border-color-primary); stroke-width: 1; }
.loss-svg polyline { fill: none; stroke-width: 1.6; stroke-linejoin: round; }
"""
