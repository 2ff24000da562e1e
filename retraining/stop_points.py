"""Named points of a retraining cycle at which a test can hold the process to kill it.

The cycle claims to be crash-safe wherever its process dies: the champion keeps serving, no
half-written version is ever marked usable, the lease expires and the next cycle runs. That is
a claim about points in time, so the kill test (tests/retraining/test_stop_points.py) holds a
real cycle process at each point named in :data:`POINTS` and sends it SIGKILL there.

The hook: ``PROMPTBOT_STOP_AT=<point>:<file>``. A process reaching ``point`` writes its pid to
``file`` and sleeps, at most :data:`STOP_WAIT_S` seconds, for the test to kill it; then it
carries on as if nothing happened. Unset, as in every real deployment, reaching a point costs
one environment lookup and does nothing else, and a stray setting can only delay a cycle,
never change what it does. Training runs in a worker process that inherits the environment,
so the ``training`` point is reached inside that worker, after its first step.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

STOP_AT_ENV = "PROMPTBOT_STOP_AT"
STOP_WAIT_S = 120.0
POINTS = (
    "pairs",  # the training pairs are recorded as a dataset; nothing trained yet
    "training",  # the training worker has taken its first step (reached in the worker)
    "saved",  # the candidate's directory is published, its version row not yet written
    "registered",  # the candidate and its experiment are committed, the run not finished
    "promotion",  # the experiment's verdict and new champion are written, not yet committed
)


def stop_point(point: str) -> None:
    """Hold here when ``PROMPTBOT_STOP_AT`` names ``point`` (see the module docstring)."""
    wanted = os.environ.get(STOP_AT_ENV)
    if not wanted:
        return
    name, _, marker = wanted.partition(":")
    if name != point or not marker:
        return
    partial = Path(f"{marker}.partial")  # renamed, so a waiting test never reads half a pid
    partial.write_text(str(os.getpid()))
    partial.replace(marker)
    time.sleep(STOP_WAIT_S)
