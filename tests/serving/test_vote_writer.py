"""Vote writes under database faults: retried, queued, caught up; none lost, none doubled."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest

from serving.prompt_service import PromptService
from serving.vote_writer import Reaction, VoteWriter
from storage.database import Database, DatabaseUnavailable
from storage.repositories.votes import VoteOutcome
from tests.helpers.faults import (
    expected_votes,
    fail_commits,
    reaction_storm,
    stored_votes,
    votes_lost,
)
from tests.helpers.storage import T0, add_prompts, add_versions, shown

MESSAGES = [f"m{i}" for i in range(8)]
USERS = [f"u{i}" for i in range(6)]


def vote_service(db: Database) -> PromptService:
    add_prompts(db, len(MESSAGES))
    add_versions(db)
    shown(db, MESSAGES)
    return PromptService(db, pool=None, clock=lambda: T0)  # type: ignore[arg-type]  # votes only


def no_sleep(_seconds: float) -> None:
    pass


def test_ten_percent_failed_commits_lose_no_vote(db: Database) -> None:
    service = vote_service(db)
    service.votes._sleep = no_sleep
    faults = fail_commits(db.engine, share=0.10, seed=7)
    events = reaction_storm(200, MESSAGES, USERS, seed=3)
    for e in events:
        service.record_reaction(e.message_id, e.user_id, e.emoji, e.added)
    while service.votes.pending:
        service.catch_up_votes()
    faults.enabled = False
    assert faults.failed >= 10  # the faults really happened
    assert service.votes.retries >= faults.failed - service.votes.pending
    assert votes_lost(expected_votes(events), stored_votes(db)) == 0


def test_a_vote_the_database_keeps_refusing_waits_and_keeps_its_order(db: Database) -> None:
    service = vote_service(db)
    service.votes._sleep = no_sleep
    faults = fail_commits(db.engine, share=1.0)
    assert service.record_reaction("m0", "u1", "👍", True) == VoteOutcome.QUEUED
    # the same voter's next reaction must not overtake the queued one
    assert service.record_reaction("m0", "u1", "👎", True) == VoteOutcome.QUEUED
    assert service.catch_up_votes() == 0 and service.votes.pending == 2
    faults.enabled = False
    assert service.record_reaction("m1", "u1", "👍", True) == VoteOutcome.RECORDED
    assert service.catch_up_votes() == 2
    assert stored_votes(db) == {("m0", "u1"): -1, ("m1", "u1"): 1}


def test_an_error_that_would_fail_again_is_raised_not_queued() -> None:
    def broken(_reaction: Reaction) -> VoteOutcome:
        raise ValueError("a vote is +1 or -1")

    writer = VoteWriter(broken, sleep=no_sleep)
    with pytest.raises(ValueError, match=r"\+1 or -1"):
        writer.write(Reaction("m", "u", 1, True, T0))
    assert writer.pending == 0


def test_a_transient_failure_is_retried_with_backoff() -> None:
    calls: list[datetime] = []
    slept: list[float] = []

    def flaky(reaction: Reaction) -> VoteOutcome:
        calls.append(reaction.at)
        if len(calls) < 3:
            raise DatabaseUnavailable("the database is locked by another process")
        return VoteOutcome.RECORDED

    writer = VoteWriter(flaky, attempts=3, backoff_s=0.1, sleep=slept.append)
    assert writer.write(Reaction("m", "u", 1, True, T0)) == VoteOutcome.RECORDED
    assert slept == [0.1, 0.2] and calls == [T0, T0, T0]


def test_two_writers_racing_on_a_first_vote_both_succeed(db: Database) -> None:
    """Two processes (two services, two engines) store the same voters' first votes at once."""
    vote_service(db)
    other = Database(db.url)
    services = [PromptService(d, pool=None, clock=lambda: T0) for d in (db, other)]  # type: ignore[arg-type]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def vote(service: PromptService, emoji: str) -> None:
        start.wait()
        try:
            for m in MESSAGES:
                for u in USERS:
                    service.votes._write(Reaction(m, u, 1 if emoji == "👍" else -1, True, T0))
        except BaseException as exc:  # the test reports any failure
            errors.append(exc)

    threads = [
        threading.Thread(target=vote, args=(s, e)) for s, e in zip(services, "👍👎", strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.dispose()
    assert errors == []
    assert len(stored_votes(db)) == len(MESSAGES) * len(USERS)
