"""Round trips and constraints of every repository, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from storage.database import Database
from storage.models import ModelStatus, Vote
from storage.prompt_file import PromptRecord
from storage.repositories import audit, leases, model_versions, prompts, requests, votes

T0 = datetime(2026, 1, 1, 12, 0, 0)


def add_prompts(db: Database, n: int = 3) -> None:
    records = [
        PromptRecord(
            id=f"p{i}",
            text=f"prompt text {i}",
            title=f"T{i}",
            genres=["Fantasy"],
            themes=["Grief", "Hope"] if i % 2 else ["Hope"],
        )
        for i in range(n)
    ]
    with db.session() as s:
        prompts.upsert_prompts(s, records, source="test", now=T0)


def add_versions(db: Database) -> None:
    with db.session() as s:
        model_versions.register_version(s, "base", "/models/base", ModelStatus.BASE, T0)
        model_versions.register_version(
            s, "v1", "/models/v1", ModelStatus.CANDIDATE, T0 + timedelta(1), parent_id="base"
        )
        model_versions.register_version(
            s, "v2", "/models/v2", ModelStatus.CANDIDATE, T0 + timedelta(2), parent_id="v1"
        )


def shown(db: Database, message_ids: list[str]) -> int:
    with db.session() as s:
        req = requests.record_request(
            s,
            user_id="42",
            raw_query="Fantasy!",
            normalized_query="fantasy",
            model_version_id="base",
            now=T0,
            results=[
                requests.ShownResult(f"p{i}", 0.9 - i / 10, "base") for i in range(len(message_ids))
            ],
        )
        for result, mid in zip(req.results, message_ids, strict=True):
            requests.attach_message(s, result.id, mid, channel_id="7")
        return req.id


def test_prompt_upsert_round_trip_and_fingerprint(db: Database) -> None:
    add_prompts(db)
    with db.session() as s:
        before = prompts.corpus_fingerprint(s)
        assert [p.id for p in prompts.list_prompts(s)] == ["p0", "p1", "p2"]
        assert prompts.get_prompt(s, "p1").themes == ["Grief", "Hope"]
        genres, themes = prompts.tag_counts(s)
        assert genres == {"Fantasy": 3} and themes["Hope"] == 3
    with db.session() as s:
        counts = prompts.upsert_prompts(
            s,
            [
                PromptRecord(id="p1", text="changed"),
                PromptRecord(
                    id="p0", text="prompt text 0", title="T0", genres=["Fantasy"], themes=["Hope"]
                ),
                PromptRecord(id="p9", text="new"),
            ],
            source="test",
            now=T0 + timedelta(1),
        )
    assert (counts.added, counts.updated, counts.unchanged) == (1, 1, 1)
    with db.session() as s:
        assert prompts.get_prompt(s, "p1").text == "changed"
        assert prompts.corpus_fingerprint(s) != before
        assert prompts.count_prompts(s) == 4


def test_champion_moves_and_rollback_walks_back(db: Database) -> None:
    add_versions(db)
    with db.session() as s:
        model_versions.set_champion(s, "base", "init", "init", T0)
        model_versions.set_champion(s, "v1", "alice", "promote", T0 + timedelta(1))
        model_versions.set_champion(s, "v2", "alice", "promote", T0 + timedelta(2))
        assert model_versions.get_champion(s).id == "v2"
        assert model_versions.get_version(s, "v1").status == "retired"
        assert model_versions.rollback_target_id(s) == "v1"
        model_versions.set_champion(s, "v1", "bob", "rollback", T0 + timedelta(3))
        assert model_versions.get_version(s, "v2").status == "rejected"
        # a second rollback skips the version just rolled back
        assert model_versions.rollback_target_id(s) == "base"
        model_versions.set_champion(s, "base", "bob", "rollback", T0 + timedelta(4))
        assert model_versions.get_version(s, "base").status == "champion"
        assert [c.action for c in model_versions.champion_history(s)] == [
            "init",
            "promote",
            "promote",
            "rollback",
            "rollback",
        ]
        assert model_versions.resolve_version(s, "champion").id == "base"
        assert model_versions.next_version_id(s) == "v3"
        with pytest.raises(model_versions.UnknownModelVersionError, match="known: base, v1, v2"):
            model_versions.resolve_version(s, "v99")


def test_database_allows_only_one_champion(db: Database) -> None:
    add_versions(db)
    with pytest.raises(IntegrityError), db.session() as s:
        model_versions.set_status(s, "v1", ModelStatus.CHAMPION)
        model_versions.set_status(s, "v2", ModelStatus.CHAMPION)


def test_request_results_and_message_lookup(db: Database) -> None:
    add_prompts(db)
    add_versions(db)
    request_id = shown(db, ["m1", "m2"])
    with db.session() as s:
        result = requests.result_for_message(s, "m2")
        assert (result.request_id, result.rank, result.prompt_id) == (request_id, 2, "p1")
        assert requests.result_for_message(s, "nope") is None
        assert len(requests.result_messages_since(s, T0 - timedelta(1))) == 2
        assert requests.result_messages_since(s, T0 + timedelta(1)) == []


def test_message_id_is_unique(db: Database) -> None:
    add_prompts(db)
    add_versions(db)
    shown(db, ["m1"])
    with pytest.raises(IntegrityError):
        shown(db, ["m1"])


def test_vote_record_change_remove(db: Database) -> None:
    add_prompts(db)
    add_versions(db)
    shown(db, ["m1"])
    with db.session() as s:
        assert votes.record_vote(s, "m1", "u1", 1, T0) == votes.VoteOutcome.RECORDED
        assert votes.record_vote(s, "m1", "u1", 1, T0) == votes.VoteOutcome.UNCHANGED
        assert votes.record_vote(s, "m1", "u1", -1, T0 + timedelta(1)) == votes.VoteOutcome.CHANGED
        # taking back the old 👍 keeps the 👎
        assert votes.remove_vote(s, "m1", "u1", 1, T0) == votes.VoteOutcome.NO_VOTE
        assert votes.current_vote(s, "m1", "u1").value == -1
        assert votes.remove_vote(s, "m1", "u1", -1, T0 + timedelta(2)) == votes.VoteOutcome.REMOVED
        assert votes.record_vote(s, "unknown", "u1", 1, T0) == votes.VoteOutcome.NOT_A_RESULT
        assert votes.list_votes(s) == []
        (view,) = votes.list_votes(s, include_removed=True)
        assert (
            view.message_id,
            view.user_id,
            view.value,
            view.prompt_id,
            view.query,
            view.model_version,
            view.removed,
        ) == ("m1", "u1", -1, "p0", "fantasy", "base", True)


def test_one_vote_per_user_per_result_and_foreign_keys(db: Database) -> None:
    add_prompts(db)
    add_versions(db)
    shown(db, ["m1"])
    with db.session() as s:
        votes.record_vote(s, "m1", "u1", 1, T0)
        result_id = requests.result_for_message(s, "m1").id
    with pytest.raises(IntegrityError), db.session() as s:
        s.add(Vote(result_id=result_id, voter_id="u1", value=1, cast_at=T0, changed_at=T0))
    with pytest.raises(IntegrityError), db.session() as s:
        s.add(Vote(result_id=999_999, voter_id="u2", value=1, cast_at=T0, changed_at=T0))


def test_lease_is_exclusive_until_it_expires(db: Database) -> None:
    ttl = timedelta(minutes=10)
    with db.session() as s:
        assert leases.try_acquire_lease(s, "retrain", "worker-a", ttl, T0)
    with db.session() as s:
        assert not leases.try_acquire_lease(
            s, "retrain", "worker-b", ttl, T0 + timedelta(minutes=5)
        )
        assert leases.renew_lease(s, "retrain", "worker-a", ttl, T0 + timedelta(minutes=5))
    with db.session() as s:
        assert not leases.try_acquire_lease(
            s, "retrain", "worker-b", ttl, T0 + timedelta(minutes=14)
        )
        assert leases.try_acquire_lease(s, "retrain", "worker-b", ttl, T0 + timedelta(minutes=16))
        assert leases.current_lease(s, "retrain").holder == "worker-b"
        leases.release_lease(s, "retrain", "worker-b")
    with db.session() as s:
        assert leases.current_lease(s, "retrain") is None


def test_audit_round_trip(db: Database) -> None:
    with db.session() as s:
        audit.write_audit(s, "alice#1", "promote", T0, target="v1", details={"from": "base"})
    with db.session() as s:
        (entry,) = audit.recent_audit(s)
        assert (entry.actor, entry.action, entry.target, entry.details) == (
            "alice#1",
            "promote",
            "v1",
            {"from": "base"},
        )
