"""The retention job on simulated time: a server removed longer than the window loses its
data; one added back within the window keeps everything; one removed again starts over."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from retraining.retention import purge_departed_guilds
from storage.database import Database
from storage.models import Request
from storage.repositories.audit import recent_audit
from storage.repositories.guild_settings import (
    guild_settings,
    record_guild_joined,
    record_guild_left,
    update_guild_settings,
)
from tests.helpers.storage import T0, add_prompts, add_versions, request_with_messages, vote

DAY = timedelta(days=1)


def requests_of(db: Database, guild: str) -> int:
    with db.session() as s:
        stmt = select(func.count()).select_from(Request).where(Request.guild_id == guild)
        return s.scalar(stmt) or 0


def test_removed_readded_and_removed_again(db: Database) -> None:
    add_prompts(db)
    add_versions(db)
    request_with_messages(db, "alice", "g1", ["m1"])
    request_with_messages(db, "bob", "g2", ["m2"])
    vote(db, "m1", "bob")
    with db.session() as s:
        update_guild_settings(s, "g1", {"max_count": 2}, "admin", T0)
        record_guild_left(s, "g1", T0)

    assert purge_departed_guilds(db, 30, T0 + 29 * DAY) == []  # inside the window
    with db.session() as s:
        assert record_guild_joined(s, "g1")  # added back on day 29
    assert purge_departed_guilds(db, 30, T0 + 40 * DAY) == []  # nothing is due any more
    assert requests_of(db, "g1") == 1

    left_again = T0 + 50 * DAY
    with db.session() as s:
        record_guild_left(s, "g1", left_again)
    assert purge_departed_guilds(db, 30, left_again + 29 * DAY) == []  # the window restarted
    [purged] = purge_departed_guilds(db, 30, left_again + 30 * DAY + timedelta(seconds=1))
    assert (purged.guild_id, purged.data.requests, purged.data.votes) == ("g1", 1, 1)
    assert requests_of(db, "g1") == 0 and requests_of(db, "g2") == 1
    with db.session() as s:
        assert guild_settings(s, "g1").max_count == 5
        [entry] = [e for e in recent_audit(s) if e.action == "guild.data_deleted"]
        assert (entry.target, entry.details["requests"]) == ("guild:g1", 1)
    assert purge_departed_guilds(db, 30, left_again + 60 * DAY) == []  # done once
