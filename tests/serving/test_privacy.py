"""Forgetting through the service: the audit keeps how much, never whose; a reaction still
standing on Discord is not read back as a vote after a restart, but a new one counts."""

from __future__ import annotations

from serving.privacy import describe_user, forget
from storage.database import Database
from storage.repositories.audit import recent_audit
from storage.repositories.votes import VoteOutcome, current_vote
from tests.helpers.storage import add_prompts, add_versions, request_with_messages, vote


def test_forget_audits_counts_only(sqlite_db: Database) -> None:
    add_prompts(sqlite_db)
    add_versions(sqlite_db)
    request_with_messages(sqlite_db, "123456", "g1", ["m1"])
    vote(sqlite_db, "m1", "123456")
    assert describe_user(sqlite_db, "123456").total_votes == 1
    forgotten = forget(sqlite_db, "123456", "cli:ops")
    assert (forgotten.votes, forgotten.requests) == (1, 1)
    assert describe_user(sqlite_db, "123456").total_requests == 0
    with sqlite_db.session() as session:
        [entry] = recent_audit(session, 1)
    assert (entry.actor, entry.action, entry.details) == (
        "cli:ops",
        "privacy.forget",
        {"votes": 1, "requests": 1},
    )
    assert "123456" not in f"{entry.actor}{entry.target}{entry.details}"


def test_a_forgotten_reaction_is_not_caught_up_but_a_new_one_counts(
    sqlite_db: Database,
) -> None:
    from serving.prompt_service import PromptService

    add_prompts(sqlite_db)
    add_versions(sqlite_db)
    request_with_messages(sqlite_db, "bob", "g1", ["m1"])
    vote(sqlite_db, "m1", "alice")
    forget(sqlite_db, "alice", "discord")
    service = PromptService(sqlite_db, pool=None)  # type: ignore[arg-type]  # no search here
    assert service.record_reaction("m1", "alice", "👍", True, live=False) == VoteOutcome.UNCHANGED
    with sqlite_db.session() as session:
        assert current_vote(session, "m1", "alice") is None
    assert service.record_reaction("m1", "alice", "👍", True) == VoteOutcome.RECORDED
    assert service.record_reaction("m1", "carol", "👍", True, live=False) == VoteOutcome.RECORDED
