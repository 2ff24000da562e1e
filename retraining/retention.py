"""Deleting what the bot kept for servers it left, once the retention window has passed.

When the bot is removed from a server, the time is recorded (storage.repositories.
guild_settings.record_guild_left); if it is added back, the record goes and nothing is lost.
Otherwise, ``PROMPTBOT_GUILD_RETENTION_DAYS`` (30) later, this job deletes the server's
settings and its own data (its requests, their results, every vote on them); each deletion is
audited. It runs hourly with the schedule (retraining.scheduler), on simulated time in tests.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.database import Database, utcnow
from storage.repositories.audit import write_audit
from storage.repositories.guild_settings import guilds_left_before
from storage.repositories.privacy import GuildData, delete_guild_data

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Purged:
    guild_id: str
    data: GuildData


def purge_departed_guilds(
    db: Database, retention_days: float, now: datetime | None = None
) -> list[Purged]:
    """Delete the data of every server left more than ``retention_days`` ago, one
    transaction per server (a failure leaves the others done and itself intact)."""
    now = now or utcnow()
    cutoff = now - timedelta(days=retention_days)
    with db.session() as session:
        due = guilds_left_before(session, cutoff)
    purged = []
    for guild_id in due:
        with db.session() as session:
            if guild_id not in guilds_left_before(session, cutoff):
                continue  # added back meanwhile
            data = delete_guild_data(session, guild_id)
            write_audit(
                session,
                "retention",
                "guild.data_deleted",
                now,
                f"guild:{guild_id}",
                {"requests": data.requests, "votes": data.votes, "days": retention_days},
            )
        log.info("deleted the data of guild %s (left over %g days ago)", guild_id, retention_days)
        purged.append(Purged(guild_id, data))
    return purged
