"""Small server-rendered SVG charts: horizontal bars (stacked or grouped) and columns, no JavaScript, no CDN.

This module only does geometry: it turns numbers into rectangles, ticks and labels (plain data). The SVG is
written by the templates `dashboard/chart_hbars.svg` and `dashboard/chart_columns.svg`, so every label goes
through Django's autoescaping (a lead's company `<script>` is text in the chart). Coordinates are strings with
a dot decimal, whatever the language; value labels are formatted for the language (12,5 in Polish).

Why not pygal: it pulls its tooltips from a CDN unless configured not to, styles itself with its own CSS, and
the few chart kinds a manager needs here fit in this file; the figures are also in tables next to each chart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils import formats

COLOURS = {
    "main": "#1f5fa8",
    "alt": "#8fb3e0",
    "good": "#2e7d32",
    "bad": "#c62828",
    "warn": "#ef6c00",
    "muted": "#98a2b3",
}
LABEL_CHARS = 34
FONT_SIZE = 12


@dataclass(frozen=True)
class Series:
    name: str
    tone: str = "main"

    @property
    def colour(self) -> str:
        return COLOURS.get(self.tone, COLOURS["main"])


@dataclass(frozen=True)
class Rect:
    x: str
    y: str
    width: str
    height: str
    colour: str
    title: str


@dataclass(frozen=True)
class Text:
    x: str
    y: str
    text: str
    anchor: str = "start"


@dataclass(frozen=True)
class Row:
    title: str  # the full label and values, shown as a tooltip
    label: Text
    rects: tuple[Rect, ...]
    value: Text | None


@dataclass(frozen=True)
class Tick:
    x1: str
    y1: str
    x2: str
    y2: str
    label: Text


@dataclass(frozen=True)
class Legend:
    x: str
    y: str
    colour: str
    label: Text


@dataclass(frozen=True)
class Chart:
    kind: str  # "hbars" or "columns"
    id: str
    title: str
    description: str
    width: int
    height: int
    rows: tuple[Row, ...]
    ticks: tuple[Tick, ...]
    legend: tuple[Legend, ...]
    axis: tuple[str, str, str, str] | None  # x1, y1, x2, y2 of the baseline
    empty: bool
    template: str = ""


def _c(value: float) -> str:
    """A coordinate: one decimal, dot separator, no locale."""
    return f"{value:.1f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


def number(value: float | int | None, *, decimals: int = 0, unit: str = "") -> str:
    """A value label in the active language's format ("12,5" in Polish); "—" for no value."""
    if value is None:
        return "—"
    text = formats.number_format(round(value, decimals), decimal_pos=decimals) if decimals else formats.number_format(int(round(value)))
    return f"{text}{unit}"


def shorten(label: str, limit: int = LABEL_CHARS) -> str:
    label = " ".join(str(label).split())
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def nice_max(value: float) -> float:
    """The axis end: the smallest 1, 2, 2.5 or 5 times a power of ten at or above the value (1 for nothing)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power + 1e-9:
            return step * power
    return 10 * power  # pragma: no cover


def _ticks(axis_max: float, count: int = 4) -> list[float]:
    return [axis_max * i / count for i in range(count + 1)]


def hbars(
    *,
    id: str,
    title: str,
    rows: Sequence[tuple[str, Sequence[float | None]]],
    series: Sequence[Series],
    stacked: bool = True,
    value_labels: Sequence[str] | None = None,
    max_value: float | None = None,
    decimals: int = 0,
    unit: str = "",
    width: int = 720,
) -> Chart:
    """Horizontal bars: one row per label; with several series either stacked in one bar or grouped."""
    label_width, value_width, top = 230, 96, 6
    legend_height = 22 if len(series) > 1 else 0
    bar_height = 20 if stacked or len(series) == 1 else 12
    row_height = (bar_height + 8) if stacked or len(series) == 1 else len(series) * (bar_height + 2) + 8
    plot_x = label_width
    plot_width = width - label_width - value_width
    totals = [sum(v or 0 for v in values) if stacked else max([v or 0 for v in values], default=0) for _label, values in rows]
    axis_max = max_value if max_value is not None else nice_max(max(totals, default=0))
    scale = plot_width / axis_max if axis_max else 0
    y0 = top + legend_height
    height = y0 + row_height * max(len(rows), 1) + 22

    legend = []
    if len(series) > 1:
        x = plot_x
        for s in series:
            legend.append(Legend(x=_c(x), y=_c(top), colour=s.colour, label=Text(x=_c(x + 16), y=_c(top + 11), text=s.name)))
            x += 26 + 7.2 * len(s.name)

    built = []
    for i, (label, values) in enumerate(rows):
        y = y0 + i * row_height
        rects, x = [], plot_x
        for j, (value, s) in enumerate(zip(values, series, strict=False)):
            w = min(max(0.0, (value or 0) * scale), plot_width)
            if stacked:
                rect_y = y + 4
                rects.append(Rect(x=_c(x), y=_c(rect_y), width=_c(w), height=_c(bar_height), colour=s.colour, title=f"{s.name}: {number(value, decimals=decimals, unit=unit)}"))
                x += w
            else:
                rect_y = y + 4 + j * (bar_height + 2)
                rects.append(Rect(x=_c(plot_x), y=_c(rect_y), width=_c(w), height=_c(bar_height), colour=s.colour, title=f"{s.name}: {number(value, decimals=decimals, unit=unit)}"))
        if value_labels is not None:
            value_text = value_labels[i]
        elif len(series) == 1 or stacked:
            value_text = number(totals[i], decimals=decimals, unit=unit)
        else:
            value_text = " / ".join(number(v, decimals=decimals, unit=unit) for v in values)
        end = plot_x + (totals[i] * scale if stacked else max(max([(v or 0) for v in values], default=0) * scale, 0))
        text_y = y + 4 + (row_height - 8) / 2 + FONT_SIZE / 2 - 2
        built.append(
            Row(
                title=f"{label}: {value_text}",
                label=Text(x=_c(label_width - 8), y=_c(text_y), text=shorten(label), anchor="end"),
                rects=tuple(rects),
                value=Text(x=_c(min(end, plot_x + plot_width) + 6), y=_c(text_y), text=value_text),
            )
        )

    base_y = y0 + row_height * max(len(rows), 1)
    ticks = tuple(
        Tick(
            x1=_c(plot_x + t * scale), y1=_c(y0), x2=_c(plot_x + t * scale), y2=_c(base_y),
            label=Text(x=_c(plot_x + t * scale), y=_c(base_y + 15), text=number(t, decimals=1 if axis_max < 4 else 0, unit=unit), anchor="middle"),
        )
        for t in _ticks(axis_max)
    )  # fmt: skip
    description = "; ".join(row.title for row in built)
    return Chart(
        kind="hbars", id=id, title=title, description=description, width=width, height=int(height), rows=tuple(built), ticks=ticks,
        legend=tuple(legend), axis=(_c(plot_x), _c(y0), _c(plot_x), _c(base_y)), empty=not any(totals), template="dashboard/chart.svg",
    )  # fmt: skip


def columns(
    *,
    id: str,
    title: str,
    points: Sequence[tuple[str, Sequence[float | None]]],
    series: Sequence[Series],
    decimals: int = 0,
    unit: str = "",
    width: int = 720,
    plot_height: int = 160,
    max_labels: int = 16,
) -> Chart:
    """Vertical columns, one per point (a day, a bucket), the series stacked from the bottom."""
    left, right, top = 44, 10, 6
    legend_height = 22 if len(series) > 1 else 0
    plot_top = top + legend_height
    plot_width = width - left - right
    slot = plot_width / max(len(points), 1)
    bar_width = max(2.0, slot * 0.72)
    totals = [sum(v or 0 for v in values) for _label, values in points]
    axis_max = nice_max(max(totals, default=0))
    scale = plot_height / axis_max
    base_y = plot_top + plot_height
    every = max(1, math.ceil(len(points) / max_labels))

    legend = []
    if len(series) > 1:
        x = left
        for s in series:
            legend.append(Legend(x=_c(x), y=_c(top), colour=s.colour, label=Text(x=_c(x + 16), y=_c(top + 11), text=s.name)))
            x += 26 + 7.2 * len(s.name)

    built = []
    for i, (label, values) in enumerate(points):
        x = left + i * slot + (slot - bar_width) / 2
        rects, y = [], base_y
        for value, s in zip(values, series, strict=False):
            h = max(0.0, (value or 0) * scale)
            y -= h
            rects.append(Rect(x=_c(x), y=_c(y), width=_c(bar_width), height=_c(h), colour=s.colour, title=f"{s.name}: {number(value, decimals=decimals, unit=unit)}"))
        parts = ", ".join(f"{s.name}: {number(v, decimals=decimals, unit=unit)}" for v, s in zip(values, series, strict=False))
        shown = Text(x=_c(x + bar_width / 2), y=_c(base_y + 15), text=label, anchor="middle") if i % every == 0 else Text(x="0", y="0", text="")
        built.append(Row(title=f"{label}: {parts}", label=shown, rects=tuple(rects), value=None))

    ticks = tuple(
        Tick(
            x1=_c(left), y1=_c(base_y - t * scale), x2=_c(width - right), y2=_c(base_y - t * scale),
            label=Text(x=_c(left - 6), y=_c(base_y - t * scale + 4), text=number(t, decimals=1 if axis_max < 4 else 0, unit=unit), anchor="end"),
        )
        for t in _ticks(axis_max)
    )  # fmt: skip
    return Chart(
        kind="columns", id=id, title=title, description="; ".join(row.title for row in built), width=width, height=int(base_y + 24),
        rows=tuple(built), ticks=ticks, legend=tuple(legend), axis=(_c(left), _c(base_y), _c(width - right), _c(base_y)),
        empty=not any(totals), template="dashboard/chart.svg",
    )  # fmt: skip
