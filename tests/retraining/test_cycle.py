"""The retraining cycle end to end on a small real corpus, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from retraining.cycle import CycleOutcome, RetrainingCycle, vote_pair_repeats
from retraining.gate import compare, vote_slice_metrics
from retraining.simulator import make_degraded_copy
from retraining.vote_pairs import VoteJudgment
from retrieval.corpus_view import load_corpus_from_db
from retrieval.golden_set import evaluate_model
from retrieval.model_registry import ModelRef, base_model_path
from storage.database import Database
from storage.models import ModelStatus, TrainingRunStatus
from storage.repositories.datasets import get_dataset
from storage.repositories.experiments import running_experiment
from storage.repositories.leases import current_lease
from storage.repositories.model_versions import (
    get_champion,
    get_version,
    register_version,
    set_champion,
)
from storage.repositories.training_runs import get_run, list_runs, start_run
from storage.settings import Settings
from tests.helpers.retraining import T0, TINY_TRAINING, cast_votes, vote_on_server_prompts

pytestmark = pytest.mark.slow  # every test serves, embeds or trains on the loop corpus


def clock_at(t):  # type: ignore[no-untyped-def]
    return lambda: t


def serve_weak_champion(db: Database, weak_model: Path) -> None:
    """A degraded champion: a candidate retrained from the base model beats it on the golden
    set and on held-out votes, so the gate's verdict is known in advance."""
    with db.session() as s:
        register_version(s, "weak", str(weak_model), ModelStatus.CANDIDATE, T0, label="weak")
        set_champion(s, "weak", "test", "promote", T0)


def gate_nothing_passes(settings: Settings) -> Settings:
    """A tolerance no candidate can meet (it would have to gain 1.0 NDCG@5): the gate rejects."""
    return settings.model_copy(update={"gate_tolerance": -1.0})


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
    assert report.status == CycleOutcome.SKIPPED
    assert (
        "only 6 new vote(s)" in report.reason and "PROMPTBOT_RETRAIN_MIN_VOTES=10" in report.reason
    )
    with loop_db.session() as s:
        run = get_run(s, report.run_id)
        assert run.status == TrainingRunStatus.SKIPPED and run.reason == report.reason
        assert current_lease(s, "retrain") is None
        assert get_champion(s).id == "base"


def test_full_cycle_registers_a_candidate_with_lineage(
    loop_db: Database, loop_settings: Settings, golden, weak_start_model: Path
) -> None:  # type: ignore[no-untyped-def]
    serve_weak_champion(loop_db, weak_start_model)
    votes = cast_votes(loop_db, loop_settings, n_requests=30)
    report = RetrainingCycle(
        loop_db,
        loop_settings,
        clock=clock_at(T0 + timedelta(1)),
        in_process=True,
        train_config=TINY_TRAINING,
        golden=golden,
    ).run()
    assert report.status == CycleOutcome.CANDIDATE, report.reason
    assert report.reason.startswith("held-out vote agreement +")
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
        assert version.parent_id == "base"  # PROMPTBOT_RETRAIN_FROM=base
        assert version.status == ModelStatus.CANDIDATE
        assert version.status_reason == f"passed gate: {report.reason}"
        assert Path(version.artifact_path, "modules.json").is_file()
        assert set(version.metrics) == {"test", "heldout", "vote_slice", "gate"}
        assert version.metrics["gate"] == report.gate
        assert version.hyperparams["start_version"] == "base"
        assert version.hyperparams["pairs"] == report.counts
        dataset = get_dataset(s, version.dataset_id)
        assert dataset.counts["vote"] > 0 and dataset.counts["replay"] >= 40
        assert dataset.vote_id_max is not None
        run = get_run(s, report.run_id)
        assert run.status == TrainingRunStatus.SUCCEEDED
        assert run.candidate_version_id == version.id
        assert get_champion(s).id == "weak"  # a candidate never serves before its experiment
        experiment = running_experiment(s)
        assert experiment is not None and experiment.id == report.experiment_id
        assert experiment.candidate_version_id == version.id
        assert experiment.champion_version_id == "weak"
    # the votes are now consumed (and the experiment runs): the next cycle has nothing to do
    again = RetrainingCycle(
        loop_db,
        loop_settings,
        clock=clock_at(T0 + timedelta(2)),
        in_process=True,
        train_config=TINY_TRAINING,
        golden=golden,
    ).run()
    assert again.status == CycleOutcome.SKIPPED


def test_votes_on_a_contributing_servers_own_prompts_train_and_an_opted_out_servers_do_not(
    loop_db: Database, loop_settings: Settings, golden, weak_start_model: Path
) -> None:  # type: ignore[no-untyped-def]
    serve_weak_champion(loop_db, weak_start_model)
    cast_votes(loop_db, loop_settings, n_requests=20)
    voted = vote_on_server_prompts(loop_db, loop_settings, {"g-in": True, "g-out": False})
    assert voted.get("g-in") and voted.get("g-out"), "both servers' prompts were voted on"
    report = RetrainingCycle(
        loop_db,
        loop_settings,
        clock=clock_at(T0 + timedelta(1)),
        in_process=True,
        train_config=TINY_TRAINING,
        golden=golden,
    ).run()
    assert report.status in (CycleOutcome.CANDIDATE, CycleOutcome.REJECTED), report.reason
    assert report.counts["server_opted_out"] >= len(voted["g-out"])
    assert report.counts["server_prompt_pairs"] > 0
    with loop_db.session() as s:
        dataset = get_dataset(s, get_run(s, report.run_id).dataset_id)
        trained_on = {pair.positive_id for pair in dataset.pairs}
    assert trained_on & voted["g-in"]
    assert not trained_on & voted["g-out"]


def test_a_candidate_failing_the_gate_is_registered_rejected_without_experiment(
    loop_db: Database, loop_settings: Settings, golden
) -> None:  # type: ignore[no-untyped-def]
    cast_votes(loop_db, loop_settings, n_requests=30)
    report = RetrainingCycle(
        loop_db,
        gate_nothing_passes(loop_settings),
        clock=clock_at(T0 + timedelta(1)),
        in_process=True,
        train_config=TINY_TRAINING,
        golden=golden,
    ).run()
    assert report.status == CycleOutcome.REJECTED
    assert report.reason.startswith("golden test NDCG@5 fell by")
    assert report.experiment_id is None
    with loop_db.session() as s:
        version = get_version(s, report.candidate_version)
        assert version.status == ModelStatus.REJECTED
        assert version.status_reason == f"gate: {report.reason}"
        assert get_run(s, report.run_id).reason == f"rejected: {report.reason}"
        assert running_experiment(s) is None
        assert get_champion(s).id == "base"


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
    result = compare(
        evaluate_model(base, golden, cache),
        evaluate_model(worse, golden, cache),
        0.01,
        vote_slice_metrics(base, prompts, judgments, cache),
        vote_slice_metrics(worse, prompts, judgments, cache),
    )
    assert not result.passed
    assert result.reason.startswith("golden test NDCG@5 fell by")
    golden_test = result.details["golden_test"]
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
    assert report.status == CycleOutcome.FAILED and "exited with -9" in report.reason
    with loop_db.session() as s:
        assert get_champion(s).id == "base"
        assert current_lease(s, "retrain") is None
        run = get_run(s, report.run_id)
        assert run.status == TrainingRunStatus.FAILED and run.finished_at is not None
    assert not list(loop_settings.models_dir.glob("v*"))
    # and the next cycle can run: it trains on the same votes, and this gate rejects
    again = RetrainingCycle(
        loop_db,
        gate_nothing_passes(loop_settings),
        clock=clock_at(T0 + timedelta(2)),
        in_process=True,
        train_config=TINY_TRAINING,
        golden=golden,
    ).run()
    assert again.status == CycleOutcome.REJECTED, again.reason


def test_a_dead_holders_lease_expires_and_its_run_is_marked_abandoned(
    loop_db: Database, loop_settings: Settings, golden, weak_start_model: Path
) -> None:  # type: ignore[no-untyped-def]
    from storage.repositories.leases import try_acquire_lease

    serve_weak_champion(loop_db, weak_start_model)
    cast_votes(loop_db, loop_settings, n_requests=30)
    with loop_db.session() as s:  # a worker took the lease, started a run, then died
        assert try_acquire_lease(s, "retrain", "dead-worker", timedelta(hours=1), T0)
        start_run(s, "schedule", T0)
    (loop_settings.models_dir / ".v9.tmp123").mkdir(parents=True)
    blocked = RetrainingCycle(
        loop_db,
        loop_settings,
        clock=clock_at(T0 + timedelta(minutes=30)),
        in_process=True,
        train_config=TINY_TRAINING,
        golden=golden,
    ).run()
    assert blocked.status == CycleOutcome.SKIPPED and "dead-worker" in blocked.reason
    later = RetrainingCycle(
        loop_db,
        loop_settings,
        clock=clock_at(T0 + timedelta(hours=2)),
        in_process=True,
        train_config=TINY_TRAINING,
        golden=golden,
    ).run()
    assert later.status == CycleOutcome.CANDIDATE, later.reason
    with loop_db.session() as s:
        runs = list_runs(s)
        statuses = [r.status for r in runs]
        assert runs[0].error == "abandoned: the process running it died"
    assert statuses == ["failed", "skipped", "succeeded"]  # the dead worker's run first
    assert not (loop_settings.models_dir / ".v9.tmp123").exists()


def test_two_workers_started_together_run_one_cycle(
    loop_db: Database, loop_settings: Settings, golden
) -> None:  # type: ignore[no-untyped-def]
    cast_votes(loop_db, loop_settings, n_requests=30)
    barrier = threading.Barrier(2)
    reports = []
    settings = gate_nothing_passes(loop_settings)

    def worker(name: str) -> None:
        db = Database(loop_settings.resolved_database_url)
        cycle = RetrainingCycle(
            db,
            settings,
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
    assert statuses == [CycleOutcome.REJECTED, CycleOutcome.SKIPPED], [r.reason for r in reports]
    skipped = next(r for r in reports if r.status == CycleOutcome.SKIPPED)
    assert "another cycle is running" in skipped.reason
    with loop_db.session() as s:
        trained = [r for r in list_runs(s) if r.candidate_version_id]
    assert len(trained) == 1


def test_vote_pairs_are_repeated_to_balance_the_replay_within_the_cap() -> None:
    assert vote_pair_repeats(130, 1000, 8) == 8  # few votes: capped
    assert vote_pair_repeats(250, 1000, 8) == 4  # votes and replay in equal measure
    assert vote_pair_repeats(3000, 3000, 8) == 1  # plenty of votes: no repeats
    assert vote_pair_repeats(0, 1000, 8) == 1
