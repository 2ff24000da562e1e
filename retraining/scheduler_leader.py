"""One scheduler per database: the process holding the ``scheduler`` lease runs the schedule.

Any number of processes may be started with the schedule enabled (bots on `promptbot run`,
`promptbot worker`s); each runs a :class:`ScheduleLeader`. Its heartbeat thread, every
``scheduler_renew_seconds``, either renews the lease it holds or tries to take the lease
once it has expired. The holder starts the APScheduler scheduler; the others only wait. A
holder that dies (even ``kill -9``) stops renewing, so its lease lapses after
``scheduler_lease_seconds`` and a follower takes over within lease + one check interval
(60 s + 20 s by default). A holder that cannot renew steps down before its lease can lapse,
so two schedulers never run at once as long as the hosts' clocks agree to within the margin
between renewal and expiry. While elected, each round also brings the job store up to date
with the jobs read from the database (``extra_jobs``: the servers' daily prompts), so a
`/daily set` in any process reaches the schedule within one round. A clean stop releases the
lease, so a follower takes over at its
next check.

Threads, not the event loop: the election and the scheduler both do blocking database I/O
(the lease queries and APScheduler's SQLAlchemy job store), and in `promptbot run` the event
loop must answer Discord within 3 s. So the heartbeat is a daemon thread and the scheduler a
BackgroundScheduler with its own thread; the bot only reads :attr:`ScheduleLeader.is_leader`.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from types import FrameType
from typing import Any

from retraining.scheduler import JobSpec, default_jobs, ensure_jobs, start_scheduler
from storage.database import Database, utcnow
from storage.repositories.leases import release_lease, renew_lease, try_acquire_lease
from storage.settings import Settings

log = logging.getLogger(__name__)
SCHEDULER_LEASE = "scheduler"


def default_holder() -> str:
    """Who holds the lease, as operators read it: host, pid and a random tag (pids repeat)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class ScheduleLeader:
    """Takes part in the election and runs the schedule while elected."""

    def __init__(
        self,
        settings: Settings,
        db: Database | None = None,
        *,
        jobs: Mapping[str, JobSpec] | None = None,
        holder: str | None = None,
        on_change: Callable[[bool], None] | None = None,
        clock: Callable[[], datetime] = utcnow,
        extra_jobs: Callable[[Database], Mapping[str, JobSpec]] | None = None,
    ) -> None:
        self.settings = settings
        self._own_db = db is None
        self.db = db or Database(settings.resolved_database_url)
        self.jobs = jobs
        self.extra_jobs = extra_jobs
        self.holder = holder or default_holder()
        self.on_change = on_change
        self.clock = clock
        if settings.scheduler_renew_seconds >= settings.scheduler_lease_seconds:
            raise ValueError(
                "PROMPTBOT_SCHEDULER_RENEW_SECONDS must be shorter than "
                "PROMPTBOT_SCHEDULER_LEASE_SECONDS, or the leader's lease lapses between renewals"
            )
        self.ttl = timedelta(seconds=settings.scheduler_lease_seconds)
        self.check_every = settings.scheduler_renew_seconds
        self.scheduler: Any = None
        self._lease_until: datetime | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def is_leader(self) -> bool:
        return self.scheduler is not None

    def start(self) -> None:
        """Join the election in a daemon thread; returns at once."""
        self._thread = threading.Thread(
            target=self._heartbeat, name="scheduler-leader", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Leave the election: stop the scheduler and release the lease (blocking, brief)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=self.check_every + 10.0)
            self._thread = None
        self._step_down("stopping", release=True)
        if self._own_db:
            self.db.dispose()

    def _heartbeat(self) -> None:
        while not self._stopping.is_set():
            try:
                self.tick()
            except Exception:  # the thread must outlive any one failure
                log.exception("scheduler election check failed")
            self._stopping.wait(self.check_every)

    def tick(self) -> None:
        """One election round: renew or take the lease, then start or stop the scheduler."""
        now = self.clock()
        held = self._hold_lease(now)
        if held and not self.is_leader and not self._stopping.is_set():
            self._become_leader()
        elif held and self.is_leader and self.extra_jobs is not None:
            ensure_jobs(self.scheduler, self.settings, self.wanted_jobs())
        elif not held and self.is_leader:
            self._step_down("lost the scheduler lease")

    def wanted_jobs(self) -> Mapping[str, JobSpec]:
        """The fixed schedule plus the jobs read from the database (the servers' daily
        prompts), re-read every round so a change reaches the scheduler within one."""
        fixed = self.jobs if self.jobs is not None else default_jobs(self.settings)
        if self.extra_jobs is None:
            return fixed
        return {**fixed, **self.extra_jobs(self.db)}

    def _hold_lease(self, now: datetime) -> bool:
        leading = self.is_leader
        try:
            with self.db.session() as session:
                if leading:
                    held = renew_lease(session, SCHEDULER_LEASE, self.holder, self.ttl, now)
                else:
                    held = try_acquire_lease(session, SCHEDULER_LEASE, self.holder, self.ttl, now)
        except Exception as exc:
            log.warning("scheduler lease check failed: %s", _one_line(exc))
            # keep leading only while the lease surely stands until the next check
            return leading and self._lease_safe_past(now)
        if held:
            self._lease_until = now + self.ttl
        return held

    def _lease_safe_past(self, now: datetime) -> bool:
        next_check = now + timedelta(seconds=self.check_every)
        return self._lease_until is not None and next_check < self._lease_until

    def _become_leader(self) -> None:
        try:
            self.scheduler = start_scheduler(self.settings, self.wanted_jobs())
        except Exception as exc:
            log.error("elected, but the scheduler would not start: %s", _one_line(exc))
            self._release()
            return
        log.info(
            "scheduler leader %s: retraining schedule %r (UTC) started",
            self.holder,
            self.settings.retrain_schedule,
        )
        self._notify(True)

    def _step_down(self, why: str, release: bool = False) -> None:
        scheduler, self.scheduler = self.scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=False)  # a running job finishes; its own lease guards it
            log.info("scheduler leader %s stepped down: %s", self.holder, why)
            self._notify(False)
            release = True
        if release:
            self._release()

    def _release(self) -> None:
        self._lease_until = None
        try:
            with self.db.session() as session:
                release_lease(session, SCHEDULER_LEASE, self.holder)
        except Exception as exc:  # it lapses on its own
            log.warning("could not release the scheduler lease: %s", _one_line(exc))

    def _notify(self, leading: bool) -> None:
        if self.on_change is not None:
            self.on_change(leading)


def run_until_stopped(settings: Settings, jobs: Mapping[str, JobSpec] | None = None) -> None:
    """`promptbot worker`: take part in the election until SIGINT or SIGTERM."""
    stop = threading.Event()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, request_stop)
    from retraining.daily import daily_job_specs

    leader = ScheduleLeader(settings, jobs=jobs, extra_jobs=daily_job_specs)
    leader.start()
    log.info("worker %s: waiting for or holding the scheduler lease", leader.holder)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        leader.stop()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
