"""Votes: recorded, changed, removed; one per user and result."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from storage.database import Database
from storage.models import Vote
from storage.repositories import requests, votes
from tests.helpers.storage import T0, add_prompts, add_versions, shown


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
