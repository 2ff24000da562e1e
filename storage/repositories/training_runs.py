"""Training runs: one row per retraining cycle, from start to how it ended.

A run is written ``running`` when a cycle starts and finished (succeeded, failed, skipped)
when it ends, so a row still ``running`` with no live lease holder belongs to a process that
died: :func:`fail_abandoned_runs` closes those.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import TrainingRun, TrainingRunStatus

ABANDONED = "abandoned: the process running it died"


def start_run(session: Session, trigger: str, now: datetime) -> int:
    run = TrainingRun(status=TrainingRunStatus.RUNNING.value, trigger=trigger, started_at=now)
    session.add(run)
    session.flush()
    return run.id


def update_run(session: Session, run_id: int, **fields: Any) -> None:
    """Set columns of a run (``dataset_id``, ``pair_counts``, ``start_version_id`` ...)."""
    run = _get(session, run_id)
    for key, value in fields.items():
        setattr(run, key, value)


def finish_run(
    session: Session,
    run_id: int,
    status: TrainingRunStatus,
    reason: str,
    now: datetime,
    **fields: Any,
) -> None:
    update_run(session, run_id, status=status.value, reason=reason, finished_at=now, **fields)


def fail_abandoned_runs(session: Session, now: datetime) -> int:
    """Mark every run still ``running`` failed; only call while holding the retrain lease."""
    stale = list(
        session.scalars(
            select(TrainingRun).where(TrainingRun.status == TrainingRunStatus.RUNNING.value)
        )
    )
    for run in stale:
        run.status, run.finished_at = TrainingRunStatus.FAILED.value, now
        run.error = run.error or ABANDONED
    return len(stale)


def get_run(session: Session, run_id: int) -> TrainingRun | None:
    return session.get(TrainingRun, run_id)


def list_runs(session: Session) -> list[TrainingRun]:
    """Every run, oldest first."""
    return list(session.scalars(select(TrainingRun).order_by(TrainingRun.id)))


def latest_run(session: Session) -> TrainingRun | None:
    return session.scalars(select(TrainingRun).order_by(TrainingRun.id.desc()).limit(1)).first()


def _get(session: Session, run_id: int) -> TrainingRun:
    run = session.get(TrainingRun, run_id)
    if run is None:
        raise KeyError(f"training run {run_id} does not exist")
    return run


def finished_run_totals(session: Session) -> dict[str, tuple[int, float]]:
    """``{status: (runs, seconds they took)}`` over finished runs (for the /metrics scrape)."""
    totals: dict[str, tuple[int, float]] = {}
    rows = session.execute(
        select(TrainingRun.status, TrainingRun.started_at, TrainingRun.finished_at).where(
            TrainingRun.finished_at.is_not(None)
        )
    )
    for status, started_at, finished_at in rows:
        if finished_at is None:  # excluded by the query; narrows the type
            continue
        count, seconds = totals.get(status, (0, 0.0))
        totals[status] = (count + 1, seconds + max((finished_at - started_at).total_seconds(), 0))
    return totals
