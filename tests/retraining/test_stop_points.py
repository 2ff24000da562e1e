"""A real retraining cycle process killed (SIGKILL) at each of its stop points.

Wherever it dies: the champion pointer and its files are intact and it serves, no version
without complete model files is marked usable, the training worker dies with the cycle, the
lease expires, and the next cycle (or experiment check) completes. The process is started by
tests/helpers/cycle_process.py and held at the point by retraining.stop_points.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from retraining.cycle import LEASE, CycleOutcome, RetrainingCycle
from retraining.experiment_check import check_experiment
from retraining.stop_points import POINTS, STOP_AT_ENV, stop_point
from retrieval.engine_factory import ServingEngineFactory
from retrieval.golden_set import GoldenSet
from serving.model_pool import ModelPool
from serving.prompt_service import PromptService
from storage.database import Database
from storage.models import Arm, ModelStatus, TrainingRunStatus
from storage.repositories.experiments import running_experiment
from storage.repositories.leases import current_lease
from storage.repositories.model_versions import (
    get_champion,
    list_versions,
    register_version,
    set_champion,
)
from storage.repositories.training_runs import list_runs
from storage.settings import Settings
from tests.helpers.cycle_process import kill_at_marker, process_gone, start
from tests.helpers.retraining import T0, TINY_TRAINING, cast_votes

KILLED_AT = T0 + timedelta(days=1)
USABLE = {ModelStatus.CHAMPION, ModelStatus.CANDIDATE}
# Each cycle point is killed on one engine, the engines alternating, so both see a kill
# before and after training without the suite paying for every point twice (each run is two
# cycles, 30-90 s on 2 cores). What a kill leaves in the database (the lease, the abandoned
# run, the experiment committed or not) is the same code on both; the killed-training and
# dead-holder tests of test_cycle.py run on both engines. The promotion runs on both below.
CYCLE_POINTS = [p for p in POINTS if p != "promotion"]
KILL_PLAN = [
    (point, "postgresql" if i % 2 == 0 else "sqlite") for i, point in enumerate(CYCLE_POINTS)
]


def serve_weak_champion(db: Database, weak_model: Path) -> None:
    """A degraded champion, so the retrained candidate passes the gate."""
    with db.session() as s:
        register_version(s, "weak", str(weak_model), ModelStatus.CANDIDATE, T0, label="weak")
        set_champion(s, "weak", "test", "promote", T0)


def after_the_lease(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.lease_seconds + 60)


def assert_champion_serves(db: Database, settings: Settings, champion: str) -> None:
    with db.session() as s:
        row = get_champion(s)
        assert row is not None and row.id == champion
        path = Path(row.artifact_path)
    assert (path / "modules.json").is_file() and (path / "model.safetensors").is_file()
    pool = ModelPool(db, ServingEngineFactory(settings.cache_dir))
    assert pool.refresh().serving_id == champion
    assert pool.engine(champion).search("horror story", k=3)


def assert_no_half_written_version(db: Database, settings: Settings) -> None:
    """Every version marked usable has its complete model files; no other leftover is
    mistaken for one (an unregistered directory is never registered, only removed)."""
    with db.session() as s:
        versions = list_versions(s)
        usable = {v.id: Path(v.artifact_path) for v in versions if v.status in USABLE}
    for version_id, path in usable.items():
        for name in ("modules.json", "config.json", "model.safetensors", "tokenizer.json"):
            assert (path / name).is_file(), f"{version_id} is usable without {name}"


def kill_cycle_at(
    point: str, settings: Settings, tmp_path: Path, what: str = "cycle"
) -> tuple[int, int]:
    """Run a cycle process until ``point``, SIGKILL it; (its pid, the pid that stopped)."""
    marker = tmp_path / f"stopped-at-{point}"
    process = start(what, settings, KILLED_AT, point, marker)
    stopped = kill_at_marker(process, marker)
    return process.pid, stopped


@pytest.mark.slow
@pytest.mark.timeout(1200)  # two cycles on a busy 2-core runner
@pytest.mark.parametrize(("point", "db_url"), KILL_PLAN, indirect=["db_url"])
def test_a_cycle_killed_at_each_point_leaves_the_champion_and_the_next_cycle_runs(
    point: str,
    loop_db: Database,
    loop_settings: Settings,
    golden: GoldenSet,
    weak_start_model: Path,
    tmp_path: Path,
) -> None:
    serve_weak_champion(loop_db, weak_start_model)
    cast_votes(loop_db, loop_settings, n_requests=30)
    cycle_pid, stopped_pid = kill_cycle_at(point, loop_settings, tmp_path)
    if point == "training":  # held in the worker: it must not outlive the cycle
        assert stopped_pid != cycle_pid
        assert process_gone(stopped_pid), "the training worker outlived its cycle"

    assert_champion_serves(loop_db, loop_settings, "weak")
    assert_no_half_written_version(loop_db, loop_settings)
    with loop_db.session() as s:
        lease = current_lease(s, LEASE)
        assert lease is not None and lease.expires_at <= KILLED_AT + after_the_lease(loop_settings)
        [run] = list_runs(s)
        assert run.status == TrainingRunStatus.RUNNING  # the dead process could not finish it
        registered = running_experiment(s) is not None
    assert registered == (point == "registered")  # the candidate and its experiment, or neither

    report = RetrainingCycle(
        loop_db,
        loop_settings,
        clock=lambda: KILLED_AT + after_the_lease(loop_settings),
        in_process=True,
        train_config=TINY_TRAINING,
        golden=golden,
    ).run()
    if registered:  # its votes are consumed and the experiment runs: nothing to train
        assert report.status == CycleOutcome.SKIPPED and "still running" in report.reason
    else:
        assert report.status == CycleOutcome.CANDIDATE, report.reason
    with loop_db.session() as s:
        assert current_lease(s, LEASE) is None
        runs = list_runs(s)
        assert runs[0].status == TrainingRunStatus.FAILED  # the killed run, marked abandoned
        assert runs[-1].status != TrainingRunStatus.FAILED
        registered_dirs = {Path(v.artifact_path).name for v in list_versions(s)}
    leftovers = {p.name for p in loop_settings.models_dir.iterdir()} - registered_dirs
    assert leftovers == set(), leftovers  # no temporary or unregistered directory stays
    assert_champion_serves(loop_db, loop_settings, "weak")
    assert_no_half_written_version(loop_db, loop_settings)


def vote_for_the_candidate(db: Database, settings: Settings) -> None:
    """A/B traffic where the candidate's results get 👍 and the champion's 👎."""
    pool = ModelPool(db, ServingEngineFactory(settings.cache_dir))
    pool.refresh()
    service = PromptService(db, pool)
    for i in range(40):
        now = KILLED_AT + timedelta(minutes=i)
        served = service.serve(f"ab-user{i}", "horror story", count=1, source="test", now=now)
        [result] = served.results
        service.attach_message(result.result_id, f"ab{i}", "c1")
        emoji = "👍" if served.arm == Arm.CANDIDATE else "👎"
        service.record_reaction(f"ab{i}", f"ab-user{i}", emoji, True, now)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_a_promotion_killed_before_its_commit_keeps_the_champion_and_is_made_again(
    loop_db: Database,
    loop_settings: Settings,
    golden: GoldenSet,
    weak_start_model: Path,
    tmp_path: Path,
) -> None:
    settings = loop_settings.model_copy(
        update={"experiment_mode": "ab", "experiment_min_votes": 5, "experiment_alpha": 0.5}
    )
    serve_weak_champion(loop_db, weak_start_model)
    cast_votes(loop_db, settings, n_requests=30)
    report = RetrainingCycle(
        loop_db,
        settings,
        clock=lambda: T0 + timedelta(hours=12),
        in_process=True,
        train_config=TINY_TRAINING,
        golden=golden,
    ).run()
    assert report.status == CycleOutcome.CANDIDATE, report.reason
    vote_for_the_candidate(loop_db, settings)

    kill_cycle_at("promotion", settings, tmp_path, what="check")
    assert_champion_serves(loop_db, settings, "weak")
    assert_no_half_written_version(loop_db, settings)
    with loop_db.session() as s:
        experiment = running_experiment(s)
        assert experiment is not None and experiment.id == report.experiment_id

    outcome = check_experiment(loop_db, settings, KILLED_AT + timedelta(hours=1))
    assert outcome is not None and outcome[1].decision == "promoted", outcome
    assert_champion_serves(loop_db, settings, report.candidate_version)
    with loop_db.session() as s:
        assert running_experiment(s) is None


def test_a_stop_point_does_nothing_unless_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "marker"
    monkeypatch.delenv(STOP_AT_ENV, raising=False)
    stop_point("pairs")
    monkeypatch.setenv(STOP_AT_ENV, f"saved:{marker}")
    stop_point("pairs")  # another point: returns at once, writes nothing
    monkeypatch.setenv(STOP_AT_ENV, "pairs")  # no file named: ignored
    stop_point("pairs")
    assert not marker.exists() and list(tmp_path.iterdir()) == []
