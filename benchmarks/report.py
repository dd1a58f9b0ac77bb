"""The figures `make bench` measures, each next to its goal, as a table at the end of the run and as JSON.

A benchmark records what it measured with `record(...)`; the pytest plugin in `tests/conftest.py` prints the
table after the run and writes `.benchmarks/results.json` (one object per figure). A figure is "met" only when
its benchmark says so; a benchmark that could not run records nothing, so a missing row is visible too.

Times are only orientation (they depend on the machine and its load); the goals that matter are stated as
ratios to a floor measured in the same run where the issue asks for one (docs/performance.md).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

RESULTS_DIR = Path(os.environ.get("LEADROUTER_BENCH_DIR", ".benchmarks"))


@dataclass
class Figure:
    name: str  # "intake over HTTP: cost per lead vs the floor view"
    value: float
    unit: str  # "ms", "×", "queries", "s", "leads/s"
    goal: str  # "≤ 3×"
    met: bool
    detail: dict = field(default_factory=dict)  # anything else worth keeping (floor, p50, counts, database)


_figures: list[Figure] = []


def record(name: str, value: float, unit: str, *, goal: str, met: bool, **detail) -> Figure:
    figure = Figure(name=name, value=round(float(value), 3), unit=unit, goal=goal, met=bool(met), detail=detail)
    _figures.append(figure)
    return figure


def figures() -> list[Figure]:
    return list(_figures)


def table() -> str:
    if not _figures:
        return ""
    rows = [("figure", "measured", "goal", "met")]
    rows += [(f.name, f"{f.value:g} {f.unit}".strip(), f.goal, "yes" if f.met else "NO") for f in _figures]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_json() -> Path | None:
    if not _figures:
        return None
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / "results.json"
    path.write_text(json.dumps([asdict(f) for f in _figures], ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path
