"""The retraining cycle end to end on a small real corpus, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from retraining.cycle import RetrainingCycle, vote_pair_repeats
from retraining.gate import gate, vote_slice_metrics
from retraining.simulator import make_degraded_copy
from retraining.vote_pairs import VoteJudgment
from retrieval.corpus_view import load_corpus_from_db
from retrieval.golden_set import evaluate_model
from retrieval.model_registry import ModelRef, base_model_path
from storage.database import Database
from storage.models import Experiment, TrainingRun
from storage.repositories.datasets import get_dataset
from storage.repositories.leases import current_lease
from storage.repositories.model_versions import get_champion, get_version
from storage.settings import Settings
from tests.retraining.conftest import T0, TINY_TRAINING, cast_votes


def clock_at(t):  # type: ignore[no-untyped-def]
    return lambda: t


def test_cycle_below_minimum_does_nothing_and_says_why(
    loop_db: Database, loop_settings: Settings, golden
) -> None:  # type: ignore[no-untyped-def]
    cast_votes(loop_db, loop_settings, n_requests=2)  # 6 votes < 10
    report = RetrainingCycle(
        loop_db,
        loop_settings,
        clock=clock_at(T0 + timedelta(1)),
        in_process=True,
        train_config=TINY_TRAINING,
        golden=golden,
    ).run()
    assert report.status == "skipped"
    assert (
        "only 6 new vote(s)" in report.reason and "PROMPTBOT_RETRAIN_MIN_VOTES=10" in report.reason
    )
    with loop_db.session() as s:
        run = s.get(TrainingRun, report.run_id)
        assert run.status == "skipped" and run.reason == report.reason
        assert current_lease(s, "retrain") is None
        assert get_champion(s).id == "base"


def test_full_cycle_registers_a_candidate_with_lineage(
    loop_db: Database, loop_settings: Settings, golden
) -> None:  # type: ignore[no-untyped-def]
    votes = cast_votes(loop_db, loop_settings, n_requests=30)
    report = RetrainingCycle(
        loop_db,
        loop_settings,
        clock=clock_at(T0 + timedelta(1)),
        in_process=True,
        train_config=TINY_TRAINING,
        golden=golden,
    ).run()
    assert report.status in ("candidate", "rejected"), report.reason
    assert report.counts["new_votes"] == votes
    assert report.counts["vote_pairs"] > 0 and report.counts["replay_pairs"] >= 40
    repeats = report.counts["vote_pair_repeats"]
    assert repeats == vote_pair_repeats(
        report.counts["vote_pairs"],
        report.counts["replay_pairs"],
        loop_settings.vote_pair_max_repeats,
    )
    assert report.counts["training_examples"] == (
        report.counts["vote_pairs"] * repeats + report.counts["replay_pairs"]
    )
    with loop_db.session() as s:
        version = get_version(s, report.candidate_version)
        assert version.parent_id == "base"
        assert version.status == ("candidate" if report.status == "candidate" else "rejected")
        assert Path(version.artifact_path, "modules.json").is_file()
        assert "test" in version.metrics and "vote_slice" in version.metrics
        dataset = get_dataset(s, version.dataset_id)
        assert dataset.counts["vote"] > 0 and dataset.counts["replay"] >= 40
        assert dataset.vote_id_max is not None
        run = s.get(TrainingRun, report.run_id)
        assert run.status == "succeeded" and run.candidate_version_id == version.id
        assert get_champion(s).id == "base"  # a candidate never serves before its experiment
        experiments = list(s.scalars(select(Experiment)))
        assert (len(experiments) == 1) == (report.status == "candidate")
    # the votes are now consumed: the next cycle has nothing new
    again = RetrainingCycle(
        loop_db,
        loop_settings,
        clock=clock_at(T0 + timedelta(2)),
        in_process=True,
        train_config=TINY_TRAINING,
        golden=golden,
    ).run()
    assert again.status == "skipped"


def test_gate_rejects_a_deliberately_worse_candidate(
    loop_db: Database, loop_settings: Settings, golden, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    worse_dir = tmp_path / "worse"
    make_degraded_copy(base_model_path(), worse_dir, seed=1, degrade=True)
    base = ModelRef("base", base_model_path())
    worse = ModelRef("worse", worse_dir)
    cache = loop_settings.cache_dir
    prompts = load_corpus_from_db(loop_db)
    judgments = [VoteJudgment(q.query, pid, 1) for q in golden.queries for pid in q.relevant]
    decision = gate(
        evaluate_model(base, golden, cache),
        evaluate_model(worse, golden, cache),
        vote_slice_metrics(base, prompts, judgments, cache),
        vote_slice_metrics(worse, prompts, judgments, cache),
        tolerance=0.01,
    )
    assert not decision.passed
    assert "fell by" in decision.reason
    golden_test = decision.details["golden_test"]
    assert golden_test[1] < golden_test[0] - 0.05


def test_killed_training_leaves_champion_database_and_lease_intact(
    loop_db: Database, loop_settings: Settings, golden
) -> None:  # type: ignore[no-untyped-def]
    cast_votes(loop_db, loop_settings, n_requests=30)

    def kill_when_started(process) -> None:  # type: ignore[no-untyped-def]
        process.kill()  # SIGKILL, mid-way

    report = RetrainingCycle(
        loop_db,
        loop_settings,
        clock=clock_at(T0 + timedelta(1)),
        train_config=TINY_TRAINING,
        golden=golden,
        on_train_process=kill_when_started,
    ).run()
    assert report.status == "failed" and "exited with -9" in report.reason
    with loop_db.session() as s:
        assert get_champion(s).id == "base"
        assert current_lease(s, "retrain") is None
        run = s.get(TrainingRun, report.run_id)
        assert run.status == "failed" and run.finished_at is not None
    assert not list(loop_settings.models_dir.glob("v*"))
    # and the next cycle can run
    again = RetrainingCycle(
        loop_db,
        loop_settings,
        clock=clock_at(T0 + timedelta(2)),
        in_process=True,
        train_config=TINY_TRAINING,
        golden=golden,
    ).run()
    assert again.status in ("candidate", "rejected")


def test_a_dead_holders_lease_expires_and_its_run_is_marked_abandoned(
    loop_db: Database, loop_settings: Settings, golden
) -> None:  # type: ignore[no-untyped-def]
    from storage.repositories.leases import try_acquire_lease

    cast_votes(loop_db, loop_settings, n_requests=30)
    with loop_db.session() as s:  # a worker took the lease, started a run, then died
        assert try_acquire_lease(s, "retrain", "dead-worker", timedelta(hours=1), T0)
        s.add(TrainingRun(status="running", trigger="schedule", started_at=T0))
    (loop_settings.models_dir / ".v9.tmp123").mkdir(parents=True)
    blocked = RetrainingCycle(
        loop_db,
        loop_settings,
        clock=clock_at(T0 + timedelta(minutes=30)),
        in_process=True,
        train_config=TINY_TRAINING,
        golden=golden,
    ).run()
    assert blocked.status == "skipped" and "dead-worker" in blocked.reason
    later = RetrainingCycle(
        loop_db,
        loop_settings,
        clock=clock_at(T0 + timedelta(hours=2)),
        in_process=True,
        train_config=TINY_TRAINING,
        golden=golden,
    ).run()
    assert later.status in ("candidate", "rejected")
    with loop_db.session() as s:
        statuses = [r.status for r in s.scalars(select(TrainingRun).order_by(TrainingRun.id))]
    assert statuses[0] == "failed"  # the dead worker's run
    assert not (loop_settings.models_dir / ".v9.tmp123").exists()


def test_two_workers_started_together_run_one_cycle(
    loop_db: Database, loop_settings: Settings, golden
) -> None:  # type: ignore[no-untyped-def]
    cast_votes(loop_db, loop_settings, n_requests=30)
    barrier = threading.Barrier(2)
    reports = []

    def worker(name: str) -> None:
        db = Database(loop_settings.sqlalchemy_url)
        cycle = RetrainingCycle(
            db,
            loop_settings,
            clock=clock_at(T0 + timedelta(1)),
            holder=name,
            in_process=True,
            train_config=TINY_TRAINING,
            golden=golden,
        )
        barrier.wait()
        reports.append(cycle.run())
        db.dispose()

    threads = [threading.Thread(target=worker, args=(f"worker-{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    statuses = sorted(r.status for r in reports)
    assert len(reports) == 2
    assert statuses.count("skipped") == 1, [r.reason for r in reports]
    skipped = next(r for r in reports if r.status == "skipped")
    assert "another cycle is running" in skipped.reason
    with loop_db.session() as s:
        trained = [r for r in s.scalars(select(TrainingRun)) if r.candidate_version_id]
    assert len(trained) == 1


def test_vote_pairs_are_repeated_to_balance_the_replay_within_the_cap() -> None:
    assert vote_pair_repeats(130, 1000, 8) == 8  # few votes: capped
    assert vote_pair_repeats(250, 1000, 8) == 4  # votes and replay in equal measure
    assert vote_pair_repeats(3000, 3000, 8) == 1  # plenty of votes: no repeats
    assert vote_pair_repeats(0, 1000, 8) == 1
