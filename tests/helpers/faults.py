"""Fault injection for the vote path: commits that fail, and a storm of reactions to replay.

``fail_commits`` hooks an engine's COMMIT (SQLAlchemy's public ``commit`` connection event) and
raises a driver-style ``OperationalError`` for a seeded share of them: the transaction is rolled
back, exactly as when the server drops a connection mid-commit. It works on any engine, so the
same wrapper runs under the service, the bot and bench/vote_faults.py.

``reaction_storm`` draws add/remove 👍/👎 events over a few messages and voters;
``expected_votes`` replays them with the votes table's rules (the latest reaction wins; removing
a reaction removes the vote only if it is the vote's value), which is what the table must hold
once every write has landed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sqlalchemy import Engine, event, select
from sqlalchemy.exc import OperationalError

from storage.database import Database
from storage.models import Result, Vote


class InjectedCommitFailure(Exception):
    """The driver error inside the OperationalError a failed commit raises."""


@dataclass
class CommitFaults:
    share: float
    seed: int = 0
    enabled: bool = True
    commits: int = 0
    failed: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def on_commit(self, _connection: object) -> None:
        if not self.enabled:
            return
        self.commits += 1
        if self._rng.random() < self.share:
            self.failed += 1
            raise OperationalError("COMMIT", None, InjectedCommitFailure("injected commit failure"))


def fail_commits(engine: Engine, share: float, seed: int = 0) -> CommitFaults:
    """Make ``share`` of the engine's commits fail from now on (``.enabled = False`` stops)."""
    faults = CommitFaults(share, seed)
    event.listen(engine, "commit", faults.on_commit)
    return faults


@dataclass(frozen=True)
class ReactionEvent:
    message_id: str
    user_id: str
    emoji: str
    added: bool


def reaction_storm(
    count: int, message_ids: list[str], user_ids: list[str], seed: int = 0
) -> list[ReactionEvent]:
    """Adds (two thirds) and removes of 👍/👎 by random voters on random messages."""
    rng = random.Random(seed)
    return [
        ReactionEvent(
            rng.choice(message_ids), rng.choice(user_ids), rng.choice("👍👎"), rng.random() < 0.67
        )
        for _ in range(count)
    ]


def expected_votes(events: list[ReactionEvent]) -> dict[tuple[str, str], int]:
    """(message, voter) -> value of every vote standing after the events, in order."""
    standing: dict[tuple[str, str], int] = {}
    for e in events:
        key, value = (e.message_id, e.user_id), 1 if e.emoji == "👍" else -1
        if e.added:
            standing[key] = value
        elif standing.get(key) == value:
            del standing[key]
    return standing


def stored_votes(db: Database) -> dict[tuple[str, str], int]:
    """(message, voter) -> value of every standing vote in the database."""
    with db.session() as session:
        rows = session.execute(
            select(Result.message_id, Vote.voter_id, Vote.value)
            .join(Vote.result)
            .where(Vote.removed_at.is_(None))
        )
        return {(str(m), v): value for m, v, value in rows}


def votes_lost(expected: dict[tuple[str, str], int], stored: dict[tuple[str, str], int]) -> int:
    """Votes that should stand but are missing or hold another value (plus stray ones)."""
    wrong = sum(stored.get(key) != value for key, value in expected.items())
    return wrong + sum(key not in expected for key in stored)
