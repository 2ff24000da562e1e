"""A scheduler process for the election tests: the real election and scheduler, with one
fast probe job instead of the retraining jobs.

    python -m tests.helpers.scheduler_probe RUNS_FILE

Settings come from the environment like `promptbot worker`'s. Each probe run appends
"pid time" to RUNS_FILE (one short O_APPEND write, atomic across processes).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from datetime import UTC, datetime

from retraining.scheduler import JobSpec
from retraining.scheduler_leader import run_until_stopped
from storage.settings import Settings

PROBE_JOB = "probe"
RUNS_FILE_ENV = "PROBE_RUNS_FILE"
INTERVAL_S = 2.0
# a missed slot is skipped rather than run late (APScheduler wants whole seconds here), so
# each run lies within half an interval of its slot and a duplicate shows as two runs on one
GRACE_S = 1


def record_run() -> None:
    line = f"{os.getpid()} {time.time():.3f}\n".encode()
    fd = os.open(os.environ[RUNS_FILE_ENV], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def probe_jobs() -> dict[str, JobSpec]:
    from apscheduler.triggers.interval import IntervalTrigger

    start = datetime(2026, 1, 1, tzinfo=UTC)  # whole seconds: slot k runs at a whole second
    trigger = IntervalTrigger(seconds=INTERVAL_S, start_date=start, timezone="UTC")
    options = {"misfire_grace_time": GRACE_S, "coalesce": True}
    return {PROBE_JOB: JobSpec("tests.helpers.scheduler_probe:record_run", trigger, options)}


def main() -> None:
    os.environ[RUNS_FILE_ENV] = sys.argv[1]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(name)s %(message)s")
    run_until_stopped(Settings(), jobs=probe_jobs())


if __name__ == "__main__":
    main()
