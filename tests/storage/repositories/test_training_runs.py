"""Training-run totals for /metrics: finished runs by status with their summed duration."""

from __future__ import annotations

from datetime import datetime, timedelta

from storage.database import Database
from storage.models import TrainingRunStatus
from storage.repositories.training_runs import finish_run, finished_run_totals, start_run

T0 = datetime(2026, 1, 1)


def test_finished_run_totals_by_status(db: Database) -> None:
    with db.session() as session:
        for minutes, status in [(10, "succeeded"), (20, "succeeded"), (0, "skipped")]:
            run = start_run(session, "schedule", T0)
            finish_run(session, run, TrainingRunStatus(status), "", T0 + timedelta(minutes=minutes))
        start_run(session, "manual", T0)  # still running: not counted

    with db.session() as session:
        totals = finished_run_totals(session)

    assert totals == {"succeeded": (2, 1800.0), "skipped": (1, 0.0)}
