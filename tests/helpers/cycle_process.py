"""A retraining cycle (or an experiment check) in a process of its own, for kill tests.

``python -m tests.helpers.cycle_process cycle|check SETTINGS_JSON CLOCK`` runs what the
scheduler runs, with the tiny training recipe, the tag-made golden set and a fixed clock, and
trains in a worker process as a deployment does. The test that starts it sets
``PROMPTBOT_STOP_AT`` (retraining.stop_points) and kills it where it stops.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from storage.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
Popen = subprocess.Popen[str]


def main(what: str, settings_json: str, clock: str) -> None:
    from retraining.cycle import RetrainingCycle
    from retraining.experiment_check import check_experiment
    from retrieval.corpus_view import load_corpus_from_db
    from storage.database import Database
    from tests.helpers.retraining import TINY_TRAINING, tag_golden

    settings = Settings.model_validate_json(settings_json)
    now = datetime.fromisoformat(clock)
    db = Database(settings.resolved_database_url)
    if what == "cycle":
        golden = tag_golden(load_corpus_from_db(db))
        cycle = RetrainingCycle(
            db, settings, clock=lambda: now, train_config=TINY_TRAINING, golden=golden
        )
        print(cycle.run().status)
    else:
        print(check_experiment(db, settings, now))


def start(what: str, settings: Settings, clock: datetime, point: str, marker: Path) -> Popen:
    """The process, started; it will hold at ``point`` and write its pid to ``marker``."""
    env = {**os.environ, "PROMPTBOT_STOP_AT": f"{point}:{marker}", "HF_HUB_OFFLINE": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "tests.helpers.cycle_process", what]
    return subprocess.Popen(
        [*command, settings.model_dump_json(), clock.isoformat()],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def kill_at_marker(process: Popen, marker: Path, timeout: float = 480.0) -> int:
    """Wait until the process holds at its stop point, SIGKILL it; returns the pid that
    reached the point (the training worker's, for the ``training`` point)."""
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"exited with {process.returncode} before its stop:\n{output}")
        if time.monotonic() > deadline:
            process.kill()
            output = process.communicate()[0]
            raise AssertionError(f"the stop point was never reached in {timeout:g} s:\n{output}")
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    if process.stdout:
        process.stdout.close()
    return int(marker.read_text())


def process_gone(pid: int, timeout: float = 10.0) -> bool:
    """Whether ``pid`` has exited (a zombie counts: it runs nothing) within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


if __name__ == "__main__":
    main(*sys.argv[1:4])
