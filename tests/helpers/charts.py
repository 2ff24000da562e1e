"""What a chart shows, read from the matplotlib figure as it is saved.

A PNG's size says nothing about what it shows: an empty axes with a title and a legend is
several kilobytes. Tests record each figure at ``savefig`` instead and assert the series drawn
on it — line points per label, bar heights per label — against the data behind the chart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest


@dataclass(frozen=True)
class DrawnChart:
    """The series of one saved figure, by legend label."""

    name: str
    title: str
    lines: dict[str, list[tuple[Any, float]]] = field(default_factory=dict)
    bars: dict[str, list[float]] = field(default_factory=dict)
    categories: list[str] = field(default_factory=list)

    def points(self, label: str) -> list[tuple[Any, float]]:
        """The (x, y) points of the line with this legend label; fails if there is none."""
        assert label in self.lines, f"{self.name}: no line {label!r} (has {sorted(self.lines)})"
        return self.lines[label]

    def drawn_bars(self, label: str) -> dict[str, float]:
        """Bar height per category for one legend label, leaving out bars with no value."""
        assert label in self.bars, f"{self.name}: no bars {label!r} (has {sorted(self.bars)})"
        heights = zip(self.categories, self.bars[label], strict=True)
        return {category: h for category, h in heights if not math.isnan(h)}


class ChartRecorder:
    """Every figure saved while it is installed, by file name."""

    def __init__(self) -> None:
        self.charts: dict[str, DrawnChart] = {}

    def __getitem__(self, name: str) -> DrawnChart:
        assert name in self.charts, f"no chart {name!r} was drawn (drawn: {sorted(self.charts)})"
        return self.charts[name]

    def record(self, figure: Any, path: Path) -> None:
        [ax] = figure.axes  # every chart the project draws has one axes
        lines = {
            str(line.get_label()): list(
                zip(line.get_xdata(), map(float, line.get_ydata()), strict=True)
            )
            for line in ax.get_lines()
        }
        bars = {
            str(container.get_label()): [float(patch.get_height()) for patch in container]
            for container in ax.containers
        }
        categories = [tick.get_text() for tick in ax.get_xticklabels()] if bars else []
        self.charts[path.name] = DrawnChart(path.name, ax.get_title(), lines, bars, categories)


def record_charts(monkeypatch: pytest.MonkeyPatch) -> ChartRecorder:
    """Record each figure's series when it is saved (the file is still written)."""
    from matplotlib.figure import Figure

    recorder = ChartRecorder()
    save = Figure.savefig

    def recording_savefig(figure: Figure, fname: Any, *args: Any, **kwargs: Any) -> None:
        recorder.record(figure, Path(fname))
        save(figure, fname, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", recording_savefig)
    return recorder
