"""The retraining schedule on APScheduler 3.x, kept in the database so it survives restarts.

Two jobs, both in a SQLAlchemyJobStore on the app's database:

- ``retrain-cycle`` (cron from ``PROMPTBOT_RETRAIN_SCHEDULE``, default ``0 4 * * mon``: Mondays
  04:00 UTC; weekdays are best named, since APScheduler numbers Monday 0, not 1):
  one retraining cycle; the ``retrain`` lease keeps it to one at a time across processes.
- ``experiment-check`` (hourly): decide the running experiment (interleaved or A/B)
  when the data allow.

``coalesce=True`` turns a backlog of missed runs into one; ``max_instances=1`` stops a slow
cycle overlapping itself; ``misfire_grace_time`` lets a run missed while the process was down
still happen within an hour. ``promptbot run`` hosts it in an AsyncIOScheduler next to the bot;
``promptbot worker`` runs it alone (bots and workers sharing PostgreSQL).
"""

from __future__ import annotations

import logging
from typing import Any

from storage.database import Database
from storage.job_store import scheduler_job_store
from storage.settings import Settings

log = logging.getLogger(__name__)
CYCLE_JOB, EXPERIMENT_JOB = "retrain-cycle", "experiment-check"
JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600}


def retrain_trigger(expression: str) -> Any:
    """A 5-field cron expression, or ``interval:SECONDS``."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    if expression.startswith("interval:"):
        return IntervalTrigger(seconds=float(expression.split(":", 1)[1]), timezone="UTC")
    return CronTrigger.from_crontab(expression, timezone="UTC")


def scheduled_cycle() -> None:
    """Job entry point (referenced by name so the job store can persist it)."""
    from retraining.cycle import RetrainingCycle

    settings = Settings()
    db = Database(settings.sqlalchemy_url)
    try:
        report = RetrainingCycle(db, settings).run(trigger="schedule")
        log.info("retraining cycle: %s (%s)", report.status, report.reason)
    finally:
        db.dispose()


def scheduled_experiment_check() -> None:
    from retraining.experiment_check import check_experiment

    settings = Settings()
    db = Database(settings.sqlalchemy_url)
    try:
        outcome = check_experiment(db, settings)
        if outcome and outcome[1].decision:
            log.info("experiment %s: %s (%s)", outcome[0], outcome[1].decision, outcome[1].reason)
    finally:
        db.dispose()


def build_scheduler(settings: Settings, kind: str = "asyncio") -> Any:
    from apscheduler.executors.pool import ThreadPoolExecutor

    if kind == "asyncio":
        from apscheduler.schedulers.asyncio import AsyncIOScheduler as Scheduler
    elif kind == "background":
        from apscheduler.schedulers.background import BackgroundScheduler as Scheduler
    else:
        from apscheduler.schedulers.blocking import BlockingScheduler as Scheduler
    return Scheduler(
        jobstores={"default": scheduler_job_store(settings.sqlalchemy_url)},
        executors={"default": ThreadPoolExecutor(1)},
        job_defaults=JOB_DEFAULTS,
        timezone="UTC",
    )


def ensure_jobs(scheduler: Any, settings: Settings) -> None:
    """Add the jobs, or update their triggers if the settings changed; keep their next run
    time otherwise, so a restart neither skips nor repeats a scheduled cycle."""
    wanted = {
        CYCLE_JOB: (
            "retraining.scheduler:scheduled_cycle",
            retrain_trigger(settings.retrain_schedule),
        ),
        EXPERIMENT_JOB: (
            "retraining.scheduler:scheduled_experiment_check",
            retrain_trigger("interval:3600"),
        ),
    }
    for job_id, (func, trigger) in wanted.items():
        job = scheduler.get_job(job_id)
        if job is None:
            scheduler.add_job(func, trigger=trigger, id=job_id, name=job_id)
        elif str(job.trigger) != str(trigger):
            scheduler.reschedule_job(job_id, trigger=trigger)


def start_scheduler(settings: Settings, kind: str = "asyncio") -> Any:
    scheduler = build_scheduler(settings, kind)
    if kind == "blocking":
        ensure_jobs_before_blocking(scheduler, settings)
        return scheduler
    scheduler.start(paused=True)
    ensure_jobs(scheduler, settings)
    scheduler.resume()
    return scheduler


def ensure_jobs_before_blocking(scheduler: Any, settings: Settings) -> None:
    """A blocking scheduler cannot start paused; look the jobs up through a paused twin."""
    twin = build_scheduler(settings, "background")
    twin.start(paused=True)
    try:
        ensure_jobs(twin, settings)
    finally:
        twin.shutdown(wait=False)
