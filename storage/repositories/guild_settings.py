"""Per-server settings, and the servers the bot has left (for the retention job).

A server's row holds only what it chose; :func:`guild_settings` reads it as a complete
:class:`GuildSettings` with the bot's defaults filled in (defaults are what the bot did before
servers could choose). The values are checked by whoever takes them from a user
(serving.guild_settings.parse_setting); this module stores what it is given.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.models import (
    DailySchedule,
    GuildDeparture,
    GuildSettingsRow,
    Prompt,
    PromptSubmission,
    Request,
)
from storage.ratings import DEFAULT_CEILING, Rating

DEFAULT_COUNT = 1
MAX_COUNT = 5  # /prompt's own limit


@dataclass(frozen=True)
class GuildSettings:
    """What one server chose, defaults filled in. ``guild_id`` None: a DM (always defaults).

    ``prompt_channels`` empty: /prompt answers everywhere. ``cooldown_requests`` /
    ``cooldown_seconds`` None: the bot's global cooldown (a server may only be stricter).
    ``join_experiments`` False: its users always get the champion. ``contribute_votes``
    False: its votes are stored (its own statistics) but never become training pairs.
    """

    guild_id: str | None = None
    prompt_channels: frozenset[str] = field(default_factory=frozenset)
    default_count: int = DEFAULT_COUNT
    max_count: int = MAX_COUNT
    cooldown_requests: int | None = None
    cooldown_seconds: float | None = None
    content_ceiling: Rating = DEFAULT_CEILING
    join_experiments: bool = True
    contribute_votes: bool = True

    def allows_channel(self, channel_id: str | None) -> bool:
        return not self.prompt_channels or channel_id in self.prompt_channels


#: the names a server can set (and reset), in the order /settings show lists them
SETTING_NAMES: tuple[str, ...] = tuple(f.name for f in fields(GuildSettings))[1:]


def guild_settings(session: Session, guild_id: str | None) -> GuildSettings:
    """The effective settings of ``guild_id`` (defaults for a DM or a server that chose none)."""
    if guild_id is None:
        return GuildSettings()
    row = session.get(GuildSettingsRow, guild_id)
    return GuildSettings(guild_id) if row is None else _from_row(row)


def _from_row(row: GuildSettingsRow) -> GuildSettings:
    default = GuildSettings()
    return GuildSettings(
        guild_id=row.guild_id,
        prompt_channels=frozenset(row.prompt_channels or ()),
        default_count=_or(row.default_count, default.default_count),
        max_count=_or(row.max_count, default.max_count),
        cooldown_requests=row.cooldown_requests,
        cooldown_seconds=row.cooldown_seconds,
        content_ceiling=Rating(row.content_ceiling) if row.content_ceiling else DEFAULT_CEILING,
        join_experiments=_or(row.join_experiments, default.join_experiments),
        contribute_votes=_or(row.contribute_votes, default.contribute_votes),
    )


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def _stored(name: str, value: Any) -> Any:
    if name == "prompt_channels":
        return sorted(str(c) for c in value or ())
    if isinstance(value, Rating):
        return value.value
    return value


def update_guild_settings(
    session: Session, guild_id: str, changes: dict[str, Any], actor: str, now: datetime
) -> GuildSettings:
    """Store ``changes`` (setting name -> value; None resets one to the default)."""
    unknown = set(changes) - set(SETTING_NAMES)
    if unknown:
        raise KeyError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    row = session.get(GuildSettingsRow, guild_id)
    if row is None:
        row = GuildSettingsRow(guild_id=guild_id, prompt_channels=[], updated_at=now)
        session.add(row)
    for name, value in changes.items():
        stored = _stored(name, value)
        setattr(row, name, [] if name == "prompt_channels" and stored is None else stored)
    row.updated_at, row.updated_by = now, actor
    session.flush()
    return _from_row(row)


def reset_guild_settings(
    session: Session,
    guild_id: str,
    actor: str,
    now: datetime,
    names: Iterable[str] | None = None,
) -> GuildSettings:
    """Back to the defaults: the settings in ``names``, or all of them."""
    if names is None:
        session.execute(delete(GuildSettingsRow).where(GuildSettingsRow.guild_id == guild_id))
        session.flush()
        return GuildSettings(guild_id)
    return update_guild_settings(session, guild_id, dict.fromkeys(names), actor, now)


def non_contributing_guilds(session: Session) -> set[str]:
    """Servers whose votes must not become training pairs."""
    stmt = select(GuildSettingsRow.guild_id).where(GuildSettingsRow.contribute_votes.is_(False))
    return set(session.scalars(stmt))


def record_guild_left(session: Session, guild_id: str, now: datetime) -> None:
    """The bot was removed from ``guild_id`` (a repeated removal keeps the first time)."""
    if session.get(GuildDeparture, guild_id) is None:
        session.add(GuildDeparture(guild_id=guild_id, left_at=now))
        session.flush()


def record_guild_joined(session: Session, guild_id: str) -> bool:
    """The bot is in ``guild_id`` (again): nothing of it is due for deletion any more.
    True if it had been removed before."""
    result = session.execute(delete(GuildDeparture).where(GuildDeparture.guild_id == guild_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def guilds_left_before(session: Session, cutoff: datetime) -> list[str]:
    stmt = select(GuildDeparture.guild_id).where(GuildDeparture.left_at < cutoff)
    return list(session.scalars(stmt.order_by(GuildDeparture.guild_id)))


def departure_time(session: Session, guild_id: str) -> datetime | None:
    departure = session.get(GuildDeparture, guild_id)
    return None if departure is None else departure.left_at


def guilds_with_data(session: Session) -> set[str]:
    """Every server something is stored for: requests, settings, own prompts, submissions or
    a daily prompt (what the retention job would delete)."""
    sources = (
        select(Request.guild_id).where(Request.guild_id.is_not(None)).distinct(),
        select(GuildSettingsRow.guild_id),
        select(Prompt.guild_id).where(Prompt.guild_id.is_not(None)).distinct(),
        select(PromptSubmission.guild_id).distinct(),
        select(DailySchedule.guild_id),
    )
    return {guild_id for stmt in sources for guild_id in session.scalars(stmt) if guild_id}


def departed_guilds(session: Session) -> set[str]:
    """Servers already counted as removed (waiting out the retention window)."""
    return set(session.scalars(select(GuildDeparture.guild_id)))
