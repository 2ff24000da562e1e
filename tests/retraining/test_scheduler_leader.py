"""One scheduler per database: the lease elects one leader, and a dead leader is replaced.

The in-process tests drive the election round by round on a fake clock (both engines); the
process test runs three real scheduler processes on one PostgreSQL database, kills the
leader with SIGKILL and checks that the probe job ran on every slot at most once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from retraining.scheduler_leader import SCHEDULER_LEASE, ScheduleLeader
from storage.database import Database
from storage.repositories.leases import current_lease
from storage.settings import Settings
from tests.helpers.databases import fresh_database_url
from tests.helpers.scheduler_probe import INTERVAL_S

REPO_ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 1, 1, 12)
LEASE_S, RENEW_S = 3.0, 0.5
CLI = "from bot.cli import app; app()"


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_leader(
    db: Database, db_url: str, tmp_path: Path, clock: FakeClock
) -> Iterator[Callable[[str], ScheduleLeader]]:
    settings = Settings(
        home=tmp_path,
        database_url=db_url,
        scheduler_lease_seconds=60.0,
        scheduler_renew_seconds=20.0,
    )
    made: list[ScheduleLeader] = []

    def make(holder: str) -> ScheduleLeader:
        changes: list[bool] = []
        leader = ScheduleLeader(settings, db, jobs={}, holder=holder, clock=clock)
        leader.on_change = changes.append
        leader.changes = changes  # type: ignore[attr-defined]
        made.append(leader)
        return leader

    yield make
    for leader in made:
        leader.stop()


def holder_of(db: Database) -> str | None:
    with db.session() as session:
        lease = current_lease(session, SCHEDULER_LEASE)
        return lease.holder if lease else None


def test_one_leader_and_a_takeover_after_the_lease_lapses(
    make_leader: Callable[[str], ScheduleLeader], db: Database, clock: FakeClock
) -> None:
    a, b = make_leader("a"), make_leader("b")
    a.tick()
    b.tick()
    assert (a.is_leader, b.is_leader) == (True, False)
    assert a.changes == [True] and holder_of(db) == "a"  # type: ignore[attr-defined]

    clock.advance(20)  # a renews, b checks: nothing changes
    a.tick()
    b.tick()
    assert (a.is_leader, b.is_leader) == (True, False)

    clock.advance(59)  # a has stopped renewing (hung or dead): its lease still stands
    b.tick()
    assert not b.is_leader
    clock.advance(2)
    b.tick()
    assert b.is_leader and holder_of(db) == "b"

    a.tick()  # a wakes up: its renewal fails, so it stops its scheduler
    assert not a.is_leader and a.changes == [True, False]  # type: ignore[attr-defined]
    assert holder_of(db) == "b"


def test_a_clean_stop_hands_over_at_the_next_check(
    make_leader: Callable[[str], ScheduleLeader], db: Database, clock: FakeClock
) -> None:
    a, b = make_leader("a"), make_leader("b")
    a.tick()
    b.tick()
    a.stop()
    assert not a.is_leader and holder_of(db) is None
    clock.advance(1)
    b.tick()
    assert b.is_leader


def test_a_leader_that_cannot_reach_the_database_steps_down_before_its_lease_lapses(
    make_leader: Callable[[str], ScheduleLeader], clock: FakeClock
) -> None:
    a = make_leader("a")
    a.tick()
    broken = a.db

    class Unreachable:
        def session(self) -> None:
            raise OSError("connection refused")

    a.db = Unreachable()  # type: ignore[assignment]
    clock.advance(20)
    a.tick()  # the lease stands until 60 s after the last renewal, past the next check
    assert a.is_leader
    clock.advance(20)
    a.tick()  # the next check would come too late
    assert not a.is_leader
    a.db = broken


# --------------------------------------------------------------------------- processes


@pytest.fixture
def pg_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return fresh_database_url("postgresql", request, tmp_path)


def start_process(url: str, tmp_path: Path, runs: Path, name: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PROMPTBOT_DATABASE_URL": url,
        "PROMPTBOT_HOME": str(tmp_path / "home"),
        "PROMPTBOT_SCHEDULER_LEASE_SECONDS": str(LEASE_S),
        "PROMPTBOT_SCHEDULER_RENEW_SECONDS": str(RENEW_S),
    }
    log = (tmp_path / f"{name}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.scheduler_probe", str(runs)],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def read_runs(runs: Path) -> list[tuple[int, float]]:
    if not runs.exists():
        return []
    return [
        (int(pid), float(at))
        for pid, at in (line.split() for line in runs.read_text().split("\n") if line)
    ]


def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def leader_pid(db: Database) -> int | None:
    holder = holder_of(db)
    return int(holder.split(":")[1]) if holder else None


def test_three_processes_one_leader_and_a_takeover_after_kill_9(
    pg_url: str, tmp_path: Path
) -> None:
    runs = tmp_path / "runs.txt"
    db = Database(pg_url)
    processes = [start_process(pg_url, tmp_path, runs, f"p{i}") for i in range(3)]
    by_pid = {p.pid: p for p in processes}
    try:
        wait_until(lambda: len(read_runs(runs)) >= 2, 30.0, "two probe runs")
        first = leader_pid(db)
        assert first in by_pid
        assert {pid for pid, _ in read_runs(runs)} == {first}

        by_pid[first].send_signal(signal.SIGKILL)
        killed_at = time.time()
        by_pid[first].wait()
        wait_until(
            lambda: any(pid != first for pid, _ in read_runs(runs)), 30.0, "a new leader's run"
        )
        second = leader_pid(db)
        assert second in by_pid and second != first
        taken_over = min(at for pid, at in read_runs(runs) if pid != first)
        # lapse + one check + the first slot after it, and start-up slack on a loaded machine
        assert taken_over - killed_at < LEASE_S + RENEW_S + INTERVAL_S + 3.0
        wait_until(lambda: sum(pid == second for pid, _ in read_runs(runs)) >= 3, 30.0, "runs")
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        db.dispose()

    recorded = read_runs(runs)
    pids = [pid for pid, _ in recorded]
    assert set(pids) == {first, second}
    assert pids == sorted(pids, key=lambda pid: pid != first)  # never interleaved
    slots = Counter(round(at / INTERVAL_S) for _, at in recorded)
    assert max(slots.values()) == 1, slots  # no slot ran twice
    assert all(p.returncode in (0, -signal.SIGKILL) for p in processes)


def test_promptbot_worker_leads_and_hands_the_lease_back_on_sigterm(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = fresh_database_url("sqlite", request, tmp_path)
    db = Database(url)
    env = {
        **os.environ,
        "PROMPTBOT_DATABASE_URL": url,
        "PROMPTBOT_HOME": str(tmp_path / "home"),
        "PROMPTBOT_SCHEDULER_RENEW_SECONDS": str(RENEW_S),
    }
    script = Path(sys.executable).with_name("promptbot")
    command = [str(script)] if script.is_file() else [sys.executable, "-c", CLI]
    worker = subprocess.Popen([*command, "worker"], cwd=REPO_ROOT, env=env)
    try:
        wait_until(lambda: leader_pid(db) == worker.pid, 30.0, "the worker to lead")
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=30)
    assert code == 0 and holder_of(db) is None
    db.dispose()
