"""Plots shared by `promptbot simulate` and `promptbot report`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_rates_and_quality(
    days: Sequence[dict[str, Any]], path: Path, title: str, quality_key: str = "champion_ndcg5"
) -> None:
    """👍 rate per arm (or model version) per day, and a quality line if present."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.2))
    series: dict[str, list[tuple[Any, float]]] = {}
    for row in days:
        for arm, rate in (row.get("thumbs_up_rate") or {}).items():
            if rate is not None:
                series.setdefault(arm, []).append((row["day"], rate))
    for arm, points in sorted(series.items()):
        ax.plot(
            [p[0] for p in points],
            [p[1] for p in points],
            marker="o",
            label=f"thumbs-up rate: {arm}",
        )
    quality = [(r["day"], r[quality_key]) for r in days if r.get(quality_key) is not None]
    if quality:
        ax.plot(
            [q[0] for q in quality],
            [q[1] for q in quality],
            "k--",
            marker="s",
            label="champion NDCG@5 (eval)",
        )
    ax.set_ylim(0, 1)
    ax.set_xlabel("day")
    ax.set_ylabel("rate / NDCG@5")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_counts(
    days: Sequence[dict[str, Any]],
    path: Path,
    title: str,
    keys: Sequence[str] = ("requests", "votes"),
) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.6))
    for key in keys:
        ax.plot([r["day"] for r in days], [r.get(key, 0) for r in days], marker="o", label=key)
    ax.set_xlabel("day")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_latency(days: Sequence[dict[str, Any]], path: Path, title: str) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.6))
    for key in ("latency_p50_ms", "latency_p95_ms"):
        points = [(r["day"], r[key]) for r in days if r.get(key) is not None]
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=key)
    ax.set_xlabel("day")
    ax.set_ylabel("ms")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
