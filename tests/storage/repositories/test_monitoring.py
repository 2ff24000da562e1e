"""The monitoring views: traffic and standing votes over a time window, on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

from storage.database import Database
from storage.models import Arm, ModelStatus
from storage.prompt_file import PromptRecord
from storage.repositories import model_versions, monitoring, prompts, requests, votes

DAY1 = datetime(2026, 1, 1, 12, 0, 0)
DAY2 = DAY1 + timedelta(days=1)


def setup_loop(db: Database) -> None:
    """Requests on two days: day 1 by the champion (no arm), day 2 in an A/B experiment."""
    with db.session() as s:
        prompts.upsert_prompts(s, [PromptRecord(id="p0", text="prompt")], source="t", now=DAY1)
        model_versions.register_version(s, "base", "/models/base", ModelStatus.BASE, DAY1)
        shown = [
            (DAY1, "d1", None, 12.0),
            (DAY2, "d2a", Arm.CANDIDATE, 30.0),
            (DAY2, "d2b", Arm.CHAMPION, None),
        ]
        for when, message, arm, latency in shown:
            request = requests.record_request(
                s,
                user_id="42",
                raw_query="q",
                normalized_query="q",
                model_version_id="base",
                now=when,
                arm=arm,
                latency_ms=latency,
                results=[requests.ShownResult("p0", 0.5, "base", arm)],
            )
            requests.attach_message(s, request.results[0].id, message, channel_id="7")
        votes.record_vote(s, "d1", "u1", 1, DAY1)
        votes.record_vote(s, "d2a", "u1", 1, DAY2)
        votes.record_vote(s, "d2a", "u2", -1, DAY2)
        votes.record_vote(s, "d2b", "u1", 1, DAY2)
        votes.remove_vote(s, "d2b", "u1", 1, DAY2)


def test_requests_and_votes_since_a_moment(db: Database) -> None:
    setup_loop(db)
    with db.session() as s:
        everything = monitoring.request_timings(s)
        recent = monitoring.request_timings(s, since=DAY2)
        all_votes = monitoring.vote_events(s)
        recent_votes = monitoring.vote_events(s, since=DAY2)
    assert sorted((t.created_at, t.latency_ms or 0.0) for t in everything) == [
        (DAY1, 12.0),
        (DAY2, 0.0),
        (DAY2, 30.0),
    ]
    assert len(recent) == 2
    assert len(all_votes) == 3  # the removed one is gone
    assert sorted((v.arm or "", v.value, v.model_version_id) for v in recent_votes) == [
        ("candidate", -1, "base"),
        ("candidate", 1, "base"),
    ]


def test_counts_within_a_window(db: Database) -> None:
    setup_loop(db)
    with db.session() as s:
        assert monitoring.count_requests_between(s, DAY1, DAY2) == 1
        assert monitoring.count_requests_between(s, DAY2, DAY2 + timedelta(days=1)) == 2
        assert monitoring.count_requests_between(s, DAY1 - timedelta(days=9), DAY1) == 0
        day1 = monitoring.arm_votes_between(s, DAY1, DAY2)
        day2 = monitoring.arm_votes_between(s, DAY2, DAY2 + timedelta(days=1))
    assert [(c.arm, c.value, c.count) for c in day1] == [(None, 1, 1)]
    assert sorted((c.arm or "", c.value, c.count) for c in day2) == [
        ("candidate", -1, 1),
        ("candidate", 1, 1),
    ]
