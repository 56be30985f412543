"""Inline SVG charts for the overview page, rendered on the server (no JavaScript).

Every text that goes into the SVG is escaped here; the result is :class:`markupsafe.Markup`
so that Jinja inserts it as it is.

Usage: ``bar_chart([3, 0, 5], ["12:00", "12:05", "12:10"], fmt=str, label="requests")``
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

__all__ = ["bar_chart", "line_chart"]

WIDTH = 480
HEIGHT = 150
_LEFT = 66
_RIGHT = 8
_TOP = 10
_BOTTOM = 24


def _frame(top_label: str, labels: Sequence[str], label: str) -> list[str]:
    plot_w = WIDTH - _LEFT - _RIGHT
    base = HEIGHT - _BOTTOM
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" aria-label="{escape(label)}">',
        f'<line class="axis" x1="{_LEFT}" y1="{base}" x2="{_LEFT + plot_w}" y2="{base}"/>',
        f'<line class="grid" x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT + plot_w}" y2="{_TOP}"/>',
        f'<text class="tick" x="{_LEFT - 6}" y="{_TOP + 4}" text-anchor="end">{escape(top_label)}</text>',
        f'<text class="tick" x="{_LEFT - 6}" y="{base + 4}" text-anchor="end">0</text>',
    ]
    if labels:
        parts.append(f'<text class="tick" x="{_LEFT}" y="{HEIGHT - 6}">{escape(labels[0])}</text>')
        parts.append(
            f'<text class="tick" x="{WIDTH - _RIGHT}" y="{HEIGHT - 6}" text-anchor="end">{escape(labels[-1])}</text>'
        )
    return parts


def bar_chart(
    values: Sequence[float], labels: Sequence[str], fmt: Callable[[float], str], label: str
) -> Markup:
    """One bar per bucket, with a hover title ``<label>: <value>``.

    Usage: ``bar_chart([1, 2], ["a", "b"], fmt=lambda v: f"{v:g}", label="requests")``
    """
    top = max(values, default=0.0)
    parts = _frame(fmt(top), labels, label)
    plot_w = WIDTH - _LEFT - _RIGHT
    plot_h = HEIGHT - _TOP - _BOTTOM
    step = plot_w / max(len(values), 1)
    for i, value in enumerate(values):
        height = 0.0 if top <= 0 else plot_h * value / top
        x = _LEFT + i * step + step * 0.1
        y = _TOP + plot_h - height
        tip = f"{labels[i] if i < len(labels) else ''}: {fmt(value)} {label}"
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{step * 0.8:.1f}" height="{height:.1f}">'
            f"<title>{escape(tip)}</title></rect>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(
    series: Sequence[tuple[str, Sequence[float | None]]],
    labels: Sequence[str],
    fmt: Callable[[float], str],
    label: str,
) -> Markup:
    """One polyline per named series (None leaves a gap) with a dot per point and a legend.

    Usage: ``line_chart([("p50", [1, None, 3]), ("p95", [2, None, 9])], labels, fmt=str, label="latency")``
    """
    top = max((v for _, values in series for v in values if v is not None), default=0.0)
    parts = _frame(fmt(top), labels, label)
    plot_w = WIDTH - _LEFT - _RIGHT
    plot_h = HEIGHT - _TOP - _BOTTOM
    for n, (name, values) in enumerate(series):
        step = plot_w / max(len(values), 1)
        runs: list[list[str]] = [[]]
        dots: list[str] = []
        for i, value in enumerate(values):
            if value is None:
                runs.append([])
                continue
            x = _LEFT + (i + 0.5) * step
            y = _TOP + plot_h - (0.0 if top <= 0 else plot_h * value / top)
            runs[-1].append(f"{x:.1f},{y:.1f}")
            tip = f"{labels[i] if i < len(labels) else ''}: {name} {fmt(value)}"
            dots.append(
                f'<circle class="dot s{n}" cx="{x:.1f}" cy="{y:.1f}" r="2.5"><title>{escape(tip)}</title></circle>'
            )
        for run in runs:
            if run:
                parts.append(f'<polyline class="line s{n}" points="{" ".join(run)}"/>')
        parts.extend(dots)
        parts.append(
            f'<text class="legend s{n}" x="{_LEFT + 8 + 60 * n}" y="{_TOP + 12}">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
