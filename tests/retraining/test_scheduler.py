"""The schedule lives in the database: it survives a restart, and settings changes apply."""

from __future__ import annotations

from pathlib import Path

from retraining.scheduler import (
    CYCLE_JOB,
    EXPERIMENT_JOB,
    JOB_DEFAULTS,
    RETENTION_JOB,
    build_scheduler,
    default_jobs,
    ensure_jobs,
)
from storage.settings import Settings


def start_paused(settings: Settings):  # type: ignore[no-untyped-def]
    scheduler = build_scheduler(settings)
    scheduler.start(paused=True)
    ensure_jobs(scheduler, settings)
    return scheduler


def test_jobs_survive_a_restart_with_their_next_run_time(db_url: str, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, database_url=db_url, retrain_schedule="0 4 * * mon")
    first = start_paused(settings)
    job = first.get_job(CYCLE_JOB)
    next_run = job.next_run_time
    assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (
        JOB_DEFAULTS["coalesce"],
        JOB_DEFAULTS["max_instances"],
        JOB_DEFAULTS["misfire_grace_time"],
    )
    assert next_run.weekday() == 0 and next_run.hour == 4
    first.shutdown(wait=False)

    restarted = start_paused(settings)  # a new process: jobs come back from the job store
    assert restarted.get_job(CYCLE_JOB).next_run_time == next_run
    assert restarted.get_job(EXPERIMENT_JOB) is not None
    assert restarted.get_job(RETENTION_JOB) is not None
    assert len(restarted.get_jobs()) == 3
    restarted.shutdown(wait=False)

    changed = start_paused(settings.model_copy(update={"retrain_schedule": "interval:600"}))
    assert "interval" in str(changed.get_job(CYCLE_JOB).trigger)
    changed.shutdown(wait=False)


def test_jobs_no_longer_wanted_are_removed(db_url: str, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, database_url=db_url)
    start_paused(settings).shutdown(wait=False)
    only_cycle = {CYCLE_JOB: default_jobs(settings)[CYCLE_JOB]}
    scheduler = build_scheduler(settings)
    scheduler.start(paused=True)
    ensure_jobs(scheduler, settings, only_cycle)
    assert [job.id for job in scheduler.get_jobs()] == [CYCLE_JOB]
    scheduler.shutdown(wait=False)
