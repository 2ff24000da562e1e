"""The retraining schedule on APScheduler 3.x, kept in the database so it survives restarts.

Three jobs, all in a SQLAlchemyJobStore on the app's database:

- ``retrain-cycle`` (cron from ``PROMPTBOT_RETRAIN_SCHEDULE``, default ``0 4 * * mon``: Mondays
  04:00 UTC; weekdays are best named, since APScheduler numbers Monday 0, not 1):
  one retraining cycle; the ``retrain`` lease keeps it to one at a time across processes.
- ``experiment-check`` (hourly): decide the running experiment (interleaved or A/B)
  when the data allow;
- ``daily:<guild id>``, one per server with a `/daily` schedule (retraining.daily): choose
  that server's prompt of the day. The leader re-reads the schedules every election round.
- ``guild-retention`` (hourly): delete the data of servers the bot left more than
  ``PROMPTBOT_GUILD_RETENTION_DAYS`` ago (retraining.retention).

``coalesce=True`` turns a backlog of missed runs into one; ``max_instances=1`` stops a slow
cycle overlapping itself; ``misfire_grace_time`` lets a run missed while the process was down
still happen within an hour.

APScheduler 3 supports exactly one scheduler per job store: two schedulers on one table run
jobs twice or miss them. So no process starts a scheduler on its own; the one elected by the
``scheduler`` lease does (retraining.scheduler_leader), and the scheduler here is always a
BackgroundScheduler in its own thread, because the SQLAlchemy job store does blocking I/O that
must never run on the bot's event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from storage.database import Database
from storage.job_store import scheduler_job_store
from storage.settings import Settings

log = logging.getLogger(__name__)
CYCLE_JOB, EXPERIMENT_JOB, RETENTION_JOB = "retrain-cycle", "experiment-check", "guild-retention"
JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600}


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job: a function referenced by name (the job store persists the name),
    its trigger, and APScheduler job options that differ from :data:`JOB_DEFAULTS`."""

    func: str
    trigger: Any
    options: Mapping[str, Any] = field(default_factory=dict)


def retrain_trigger(expression: str) -> Any:
    """A 5-field cron expression, or ``interval:SECONDS``."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    if expression.startswith("interval:"):
        return IntervalTrigger(seconds=float(expression.split(":", 1)[1]), timezone="UTC")
    return CronTrigger.from_crontab(expression, timezone="UTC")


def default_jobs(settings: Settings) -> dict[str, JobSpec]:
    """The schedule promptbot runs: a retraining cycle, the hourly experiment check and the
    hourly retention job."""
    return {
        CYCLE_JOB: JobSpec(
            "retraining.scheduler:scheduled_cycle", retrain_trigger(settings.retrain_schedule)
        ),
        EXPERIMENT_JOB: JobSpec(
            "retraining.scheduler:scheduled_experiment_check", retrain_trigger("interval:3600")
        ),
        RETENTION_JOB: JobSpec(
            "retraining.scheduler:scheduled_retention", retrain_trigger("interval:3600")
        ),
    }


def scheduled_cycle() -> None:
    """Job entry point (referenced by name so the job store can persist it)."""
    from retraining.cycle import RetrainingCycle

    settings = Settings()
    db = Database(settings.resolved_database_url)
    try:
        report = RetrainingCycle(db, settings).run(trigger="schedule")
        log.info("retraining cycle: %s (%s)", report.status, report.reason)
    finally:
        db.dispose()


def scheduled_experiment_check() -> None:
    from retraining.experiment_check import check_experiment

    settings = Settings()
    db = Database(settings.resolved_database_url)
    try:
        outcome = check_experiment(db, settings)
        if outcome and outcome[1].decision:
            log.info("experiment %s: %s (%s)", outcome[0], outcome[1].decision, outcome[1].reason)
    finally:
        db.dispose()


def scheduled_retention() -> None:
    from retraining.retention import purge_departed_guilds

    settings = Settings()
    db = Database(settings.resolved_database_url)
    try:
        purge_departed_guilds(db, settings.guild_retention_days)
    finally:
        db.dispose()


def build_scheduler(settings: Settings) -> Any:
    """A BackgroundScheduler (its own thread) on the database's job store, not yet started."""
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler

    return BackgroundScheduler(
        jobstores={"default": scheduler_job_store(settings.resolved_database_url)},
        executors={"default": ThreadPoolExecutor(1)},
        job_defaults=JOB_DEFAULTS,
        timezone="UTC",
        daemon=True,
    )


def trigger_key(trigger: Any) -> str:
    """What makes two triggers the same schedule: their fields and, for cron, the time zone
    (``str`` of a CronTrigger leaves the zone out, and a daily post at 09:00 in Tokyo is not
    09:00 in Paris)."""
    return f"{trigger} {getattr(trigger, 'timezone', '')}"


def ensure_jobs(
    scheduler: Any, settings: Settings, jobs: Mapping[str, JobSpec] | None = None
) -> None:
    """Make the stored schedule the wanted one: add missing jobs, update changed triggers and
    drop jobs nobody wants any more; keep each job's next run time otherwise, so a restart or
    a change of leader neither skips nor repeats a scheduled run."""
    wanted = default_jobs(settings) if jobs is None else jobs
    for job_id, spec in wanted.items():
        job = scheduler.get_job(job_id)
        if job is None:
            scheduler.add_job(
                spec.func, trigger=spec.trigger, id=job_id, name=job_id, **spec.options
            )
        elif trigger_key(job.trigger) != trigger_key(spec.trigger):
            scheduler.reschedule_job(job_id, trigger=spec.trigger)
    for job in scheduler.get_jobs():
        if job.id not in wanted:
            log.info("removing scheduled job %s: no longer in the schedule", job.id)
            scheduler.remove_job(job.id)


def start_scheduler(settings: Settings, jobs: Mapping[str, JobSpec] | None = None) -> Any:
    """Start the schedule in a background thread; only the elected leader may call this."""
    scheduler = build_scheduler(settings)
    scheduler.start(paused=True)  # jobs are reconciled before anything can fire
    try:
        ensure_jobs(scheduler, settings, jobs)
    except Exception:
        scheduler.shutdown(wait=False)
        raise
    scheduler.resume()
    return scheduler
