"""The experiments repository: one running experiment, how it ends, and the vote tallies the
decision rules read, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from storage.database import Database
from storage.models import Arm, ExperimentDecision, ExperimentMode, ExperimentStatus, ModelStatus
from storage.prompt_file import PromptRecord
from storage.repositories import experiments, model_versions, prompts, requests, votes

T0 = datetime(2026, 1, 1, 12, 0, 0)


@pytest.fixture
def versions(db: Database) -> Database:
    """Prompts p0..p2 and versions base (champion) and v1 (candidate)."""
    with db.session() as s:
        records = [PromptRecord(id=f"p{i}", text=f"prompt {i}") for i in range(3)]
        prompts.upsert_prompts(s, records, source="test", now=T0)
        model_versions.register_version(s, "base", "/models/base", ModelStatus.BASE, T0)
        model_versions.set_champion(s, "base", actor="test", action="init", now=T0)
        model_versions.register_version(s, "v1", "/models/v1", ModelStatus.CANDIDATE, T0)
    return db


def serve(
    db: Database,
    tag: str,
    arms: list[Arm | None],
    experiment_id: int | None,
    request_arm: Arm | None,
) -> None:
    """One request showing p0, p1, ... with the given result arms, messages ``tag-<rank>``."""
    with db.session() as s:
        request = requests.record_request(
            s,
            user_id="42",
            raw_query="dragons",
            normalized_query="dragons",
            model_version_id="v1",
            now=T0,
            experiment_id=experiment_id,
            arm=request_arm,
            results=[
                requests.ShownResult(
                    f"p{i}", 0.9 - i / 10, "base" if arm == "champion" else "v1", arm
                )
                for i, arm in enumerate(arms)
            ],
        )
        for result in request.results:
            requests.attach_message(s, result.id, f"{tag}-{result.rank}", channel_id="7")


def vote(db: Database, message_id: str, voter: str, value: int) -> None:
    with db.session() as s:
        votes.record_vote(s, message_id, voter, value, T0)


def test_one_experiment_runs_at_a_time_and_ends_with_a_decision(versions: Database) -> None:
    with versions.session() as s:
        assert experiments.running_experiment(s) is None
        assert experiments.latest_experiment(s) is None
        started = experiments.start_experiment(
            s, "base", "v1", 0.5, T0, mode=ExperimentMode.INTERLEAVE
        )
        assert (started.status, started.mode) == ("running", "interleave")
        with pytest.raises(experiments.ExperimentAlreadyRunningError):
            experiments.start_experiment(s, "base", "v1", 0.5, T0)
    with versions.session() as s:
        running = experiments.running_experiment(s)
        assert running is not None and running.id == started.id
        later = T0 + timedelta(days=2)
        experiments.finish_experiment(
            s, running, ExperimentDecision.REJECTED, "candidate worse", later, {"p_value": 0.01}
        )
    with versions.session() as s:
        assert experiments.running_experiment(s) is None
        done = experiments.get_experiment(s, started.id)
        assert done is not None
        assert (done.status, done.decision, done.reason) == (
            ExperimentStatus.FINISHED,
            ExperimentDecision.REJECTED,
            "candidate worse",
        )
        assert done.decided_at == later and done.stats == {"p_value": 0.01}
        second = experiments.start_experiment(s, "base", "v1", 0.3, later)
        assert experiments.latest_experiment(s).id == second.id  # type: ignore[union-attr]
        assert [e.id for e in experiments.list_experiments(s)] == [started.id, second.id]
        only_ab = experiments.list_experiments(s, mode=ExperimentMode.AB)
        assert [e.id for e in only_ab] == [second.id]


def test_ending_running_experiments_credits_only_the_promoted_candidate(
    versions: Database,
) -> None:
    with versions.session() as s:
        first = experiments.start_experiment(s, "base", "v1", 0.5, T0)
        assert experiments.end_running_experiments(s, "promoted by an admin", T0, "v1") == [
            first.id
        ]
        second = experiments.start_experiment(s, "base", "v1", 0.5, T0)
        assert experiments.end_running_experiments(s, "champion rolled back", T0) == [second.id]
        assert experiments.end_running_experiments(s, "nothing runs", T0) == []
    with versions.session() as s:
        ended = experiments.list_experiments(s)
        assert [(e.status, e.decision) for e in ended] == [
            ("finished", "promoted"),
            ("finished", "kept"),
        ]


def test_arm_vote_counts_cover_only_the_experiment_and_standing_votes(
    versions: Database,
) -> None:
    with versions.session() as s:
        experiment_id = experiments.start_experiment(s, "base", "v1", 0.5, T0).id
    serve(versions, "a", [Arm.CANDIDATE, Arm.CANDIDATE], experiment_id, Arm.CANDIDATE)
    serve(versions, "b", [Arm.CHAMPION], experiment_id, Arm.CHAMPION)
    serve(versions, "c", [None], None, None)  # outside the experiment
    vote(versions, "a-1", "u1", 1)
    vote(versions, "a-1", "u2", 1)
    vote(versions, "a-2", "u1", -1)
    vote(versions, "b-1", "u1", -1)
    vote(versions, "b-1", "u2", 1)
    vote(versions, "c-1", "u1", 1)
    with versions.session() as s:
        votes.remove_vote(s, "b-1", "u2", 1, T0)  # a removed vote never counts
        counts = experiments.arm_vote_counts(s, experiment_id)
    assert sorted((c.arm, c.value, c.count) for c in counts) == [
        ("candidate", -1, 1),
        ("candidate", 1, 2),
        ("champion", -1, 1),
    ]


def test_interleaved_votes_per_request_and_team(versions: Database) -> None:
    with versions.session() as s:
        experiment_id = experiments.start_experiment(
            s, "base", "v1", 0.5, T0, mode=ExperimentMode.INTERLEAVE
        ).id
    teams = [Arm.CANDIDATE, Arm.CHAMPION, Arm.AGREED]
    serve(versions, "x", teams, experiment_id, Arm.INTERLEAVED)
    serve(versions, "y", teams, experiment_id, Arm.INTERLEAVED)
    serve(versions, "z", [Arm.CANDIDATE], None, None)  # not an interleaved request
    for message, voter, value in [
        ("x-1", "u1", 1),
        ("x-1", "u2", 1),
        ("x-2", "u1", -1),
        ("x-3", "u1", 1),
        ("y-2", "u1", 1),
        ("z-1", "u1", 1),
    ]:
        vote(versions, message, voter, value)
    with versions.session() as s:
        tallies = experiments.team_vote_counts(s, experiment_id)
        rows = experiments.interleaved_votes(s, experiment_id)
    by_request: dict[int, list[tuple[str | None, int, int, str]]] = {}
    for t in tallies:
        by_request.setdefault(t.request_id, []).append((t.team, t.value, t.count, t.user_id))
    assert [sorted(v) for _, v in sorted(by_request.items())] == [
        [
            ("agreed", 1, 1, "u1"),
            ("candidate", 1, 1, "u1"),
            ("candidate", 1, 1, "u2"),
            ("champion", -1, 1, "u1"),
        ],
        [("champion", 1, 1, "u1")],
    ]
    assert len(rows) == 5 and {r.query for r in rows} == {"dragons"}
    assert sorted((r.prompt_id, r.model_version_id, r.value) for r in rows) == [
        ("p0", "v1", 1),
        ("p0", "v1", 1),
        ("p1", "base", -1),
        ("p1", "base", 1),
        ("p2", "v1", 1),
    ]
