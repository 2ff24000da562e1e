"""`promptbot report`: pictures of the live loop from the real database.

Requests and votes per day, 👍 rate per model version and per experiment arm (an A/B arm;
in interleaved lists each team's results, and ``agreed`` for those both models rank at the
same place), `/prompt` latency p50/p95 per day, and the timeline of trainings, gate
decisions, promotions and rollbacks — a markdown summary plus PNGs drawn by the same code as
the simulator's.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from retraining.plots import plot_counts, plot_latency, plot_rates_and_quality
from storage.database import Database
from storage.repositories.daily import daily_feedback_summary
from storage.repositories.experiments import list_experiments
from storage.repositories.model_versions import champion_history, list_versions
from storage.repositories.monitoring import request_timings, vote_events
from storage.repositories.training_runs import list_runs


def daily_rows(db: Database, since: datetime | None) -> list[dict[str, Any]]:
    with db.session() as session:
        timings = request_timings(session, since)
        votes = vote_events(session, since)
    per_day: dict[str, dict[str, Any]] = defaultdict(
        lambda: {
            "requests": 0,
            "latencies": [],
            "votes": 0,
            "by_version": defaultdict(Counter),
            "by_arm": defaultdict(Counter),
        }
    )
    for timing in timings:
        row = per_day[timing.created_at.date().isoformat()]
        row["requests"] += 1
        if timing.latency_ms is not None:
            row["latencies"].append(timing.latency_ms)
    for vote in votes:
        row = per_day[vote.cast_at.date().isoformat()]
        row["votes"] += 1
        row["by_version"][vote.model_version_id][vote.value] += 1
        if vote.arm:
            row["by_arm"][vote.arm][vote.value] += 1
    out = []
    for day in sorted(per_day):
        row = per_day[day]
        lat = row["latencies"]
        out.append(
            {
                "day": day,
                "requests": row["requests"],
                "votes": row["votes"],
                "thumbs_up_rate": _rates(row["by_version"]),
                "thumbs_up_rate_by_arm": _rates(row["by_arm"]),
                "latency_p50_ms": round(float(np.percentile(lat, 50)), 2) if lat else None,
                "latency_p95_ms": round(float(np.percentile(lat, 95)), 2) if lat else None,
            }
        )
    return out


def _rates(table: dict[str, Counter[int]]) -> dict[str, float]:
    return {k: round(c[1] / (c[1] + c[-1]), 4) for k, c in table.items() if c[1] + c[-1]}


def timeline(db: Database, since: datetime | None) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    with db.session() as session:
        for run in list_runs(session):
            events.append(
                {
                    "at": run.started_at,
                    "event": f"training run #{run.id}",
                    "detail": f"{run.status}: {run.reason}",
                }
            )
        for version in list_versions(session):
            if version.status_reason and version.parent_id is not None:
                events.append(
                    {
                        "at": version.created_at,
                        "event": f"gate {version.id}",
                        "detail": f"{version.status}: {version.status_reason}",
                    }
                )
        for change in champion_history(session):
            events.append(
                {
                    "at": change.at,
                    "event": change.action,
                    "detail": f"{change.previous_version_id} -> {change.version_id} "
                    f"by {change.actor}",
                }
            )
        for exp in list_experiments(session):
            if exp.decided_at:
                events.append(
                    {
                        "at": exp.decided_at,
                        "event": f"experiment {exp.id}",
                        "detail": f"{exp.decision}: {exp.reason}",
                    }
                )
    events = [e for e in events if since is None or e["at"] >= since]
    return sorted(events, key=lambda e: e["at"])


def daily_feedback_lines(db: Database, since: datetime | None) -> list[str]:
    """Reactions on daily posts, per prompt: feedback without a query, so it is shown here
    and never turned into training pairs."""
    with db.session() as session:
        rows = daily_feedback_summary(session, since or datetime.min)
    lines = ["", "## Daily prompts: reactions", ""]
    if not rows:
        return [*lines, "No daily prompt was posted in this period."]
    lines += ["| prompt | title | posts | 👍 | 👎 |", "|---|---|---|---|---|"]
    for row in rows:
        title = row.title.replace("|", "\\|")
        lines.append(f"| {row.prompt_id} | {title} | {row.posts} | {row.up} | {row.down} |")
    return lines


def write_monitoring_report(db: Database, out: Path, since: datetime | None) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    days = daily_rows(db, since)
    events = timeline(db, since)
    charts = {
        "counts.png": lambda p: plot_counts(days, p, "requests and votes per day"),
        "thumbs_up_by_version.png": lambda p: plot_rates_and_quality(
            days, p, "thumbs-up rate per model version"
        ),
        "thumbs_up_by_arm.png": lambda p: plot_rates_and_quality(
            [{**d, "thumbs_up_rate": d["thumbs_up_rate_by_arm"]} for d in days],
            p,
            "thumbs-up rate per experiment arm",
        ),
        "latency.png": lambda p: plot_latency(days, p, "/prompt latency per day"),
    }
    written = []
    for name, draw in charts.items():
        draw(out / name)
        written.append(out / name)
    lines = [
        "# promptbot report",
        "",
        "| day | requests | votes | 👍 rate by version | 👍 rate by arm | p50 ms | p95 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for d in days:
        lines.append(
            f"| {d['day']} | {d['requests']} | {d['votes']} | {d['thumbs_up_rate']} | "
            f"{d['thumbs_up_rate_by_arm']} | {d['latency_p50_ms']} | "
            f"{d['latency_p95_ms']} |"
        )
    lines += ["", "## Timeline", "", "| when | event | detail |", "|---|---|---|"]
    lines += [f"| {e['at']:%Y-%m-%d %H:%M} | {e['event']} | {e['detail']} |" for e in events]
    lines += daily_feedback_lines(db, since)
    lines += ["", *[f"![{p.stem}]({p.name})" for p in written]]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    return [out / "report.md", *written]
