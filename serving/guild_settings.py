"""Per-server settings as every bot process sees them: cached, and never staler than 10 s.

Read a server's effective settings with ``GuildSettingsCache.get(guild_id)`` (a
``storage.repositories.guild_settings.GuildSettings``: defaults filled in; ``None`` for a DM
gives the defaults). Each entry is re-read from the database once it is ``max_age_s``
(default 5 s) old, so a change made by any process — another shard, the CLI — is seen by
every process within that time, with no message between them; a change made through
:meth:`GuildSettingsCache.update` or :meth:`reset` is seen at once by the process that made
it. Reads are one primary-key lookup per server per 5 s.

Changes from users go through :func:`parse_setting`, which turns the text a server admin
typed into a value or raises :class:`SettingError` with an explanation to show them.
What a rating ceiling means for a channel is :func:`storage.ratings.effective_ceiling`:
``mature`` only in age-restricted channels.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from storage.database import Database, utcnow
from storage.ratings import RATING_ORDER, Rating, effective_ceiling, parse_rating
from storage.repositories.audit import write_audit
from storage.repositories.guild_settings import (
    MAX_COUNT,
    SETTING_NAMES,
    GuildSettings,
    guild_settings,
    reset_guild_settings,
    update_guild_settings,
)

__all__ = [
    "MAX_PROMPT_CHANNELS",
    "SETTING_NAMES",
    "GuildSettings",
    "GuildSettingsCache",
    "SettingError",
    "ceiling_for",
    "parse_setting",
]

CACHE_MAX_AGE_S = (
    5.0  # half the 10 s a change may take to reach every process, so a slow read still makes it
)
MAX_PROMPT_CHANNELS = 25
MAX_COOLDOWN_SECONDS = 24 * 3600.0
_TRUE = {"yes", "true", "on", "1", "y"}
_FALSE = {"no", "false", "off", "0", "n"}


class SettingError(ValueError):
    """A setting value a server cannot have; the message is shown to the admin as is."""


def ceiling_for(settings: GuildSettings, age_restricted_channel: bool) -> Rating:
    """The strongest rating /prompt may return in this channel of this server."""
    return effective_ceiling(settings.content_ceiling, age_restricted_channel)


class GuildSettingsCache:
    """Effective settings per server, each re-read at most every ``max_age_s`` seconds."""

    def __init__(
        self,
        db: Database,
        max_age_s: float = CACHE_MAX_AGE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.max_age_s = max_age_s
        self.clock = clock
        self._entries: dict[str, tuple[float, GuildSettings]] = {}
        self._lock = threading.Lock()

    def get(self, guild_id: str | int | None) -> GuildSettings:
        """The settings of ``guild_id``; defaults for a DM (None). May read the database."""
        if guild_id is None:
            return GuildSettings()
        key = str(guild_id)
        now = self.clock()
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and now - entry[0] < self.max_age_s:
            return entry[1]
        with self.db.session() as session:
            fresh = guild_settings(session, key)
        with self._lock:
            self._entries[key] = (now, fresh)
        return fresh

    def invalidate(self, guild_id: str | int) -> None:
        with self._lock:
            self._entries.pop(str(guild_id), None)

    def update(
        self,
        guild_id: str | int,
        changes: dict[str, Any],
        actor: str,
        now: datetime | None = None,
        audit_details: dict[str, Any] | None = None,
    ) -> GuildSettings:
        """Store ``changes`` (already parsed), audited as ``settings.set``."""
        key, now = str(guild_id), now or utcnow()
        with self.db.session() as session:
            current = guild_settings(session, key)
            _check_consistent(current, changes)
            updated = update_guild_settings(session, key, changes, actor, now)
            details = {name: _jsonable(value) for name, value in changes.items()}
            write_audit(
                session, actor, "settings.set", now, f"guild:{key}", details | (audit_details or {})
            )
        self._remember(key, updated)
        return updated

    def reset(
        self,
        guild_id: str | int,
        actor: str,
        names: Iterable[str] | None = None,
        now: datetime | None = None,
        audit_details: dict[str, Any] | None = None,
    ) -> GuildSettings:
        """Back to the defaults (``names``, or everything), audited as ``settings.reset``."""
        key, now = str(guild_id), now or utcnow()
        names = None if names is None else list(names)
        with self.db.session() as session:
            if names is not None:
                _check_consistent(guild_settings(session, key), dict.fromkeys(names))
            updated = reset_guild_settings(session, key, actor, now, names)
            details = {"settings": names or "all"} | (audit_details or {})
            write_audit(session, actor, "settings.reset", now, f"guild:{key}", details)
        self._remember(key, updated)
        return updated

    def _remember(self, key: str, settings: GuildSettings) -> None:
        with self._lock:
            self._entries[key] = (self.clock(), settings)


def _jsonable(value: Any) -> Any:
    if isinstance(value, frozenset | set):
        return sorted(value)
    return value.value if isinstance(value, Rating) else value


def _check_consistent(current: GuildSettings, changes: dict[str, Any]) -> None:
    """Settings that depend on each other: the default count may not exceed the maximum."""
    default = GuildSettings()
    default_count = changes.get("default_count", current.default_count)
    max_count = changes.get("max_count", current.max_count)
    default_count = default.default_count if default_count is None else default_count
    max_count = default.max_count if max_count is None else max_count
    if default_count > max_count:
        raise SettingError(
            f"The default count ({default_count}) can't be above the maximum ({max_count}); "
            "change the maximum first."
        )


def parse_setting(
    name: str,
    raw: str,
    global_cooldown: tuple[int, float],
    visible_channels: Callable[[str], bool] | None = None,
) -> Any:
    """The value ``raw`` means for setting ``name``, or SettingError explaining the range.

    ``global_cooldown`` is the bot's (requests, seconds): a server may only be stricter.
    ``visible_channels(channel_id)`` says whether the bot can see a channel; channels it
    cannot see are refused, since /prompt could never answer there.
    """
    text = raw.strip()
    if name not in SETTING_NAMES:
        raise SettingError(f"There is no setting `{name}`; settings: {', '.join(SETTING_NAMES)}.")
    if name == "prompt_channels":
        return _parse_channels(text, visible_channels)
    if name in ("default_count", "max_count"):
        return _parse_int(name, text, 1, MAX_COUNT)
    if name == "cooldown_requests":
        return _parse_int(name, text, 1, global_cooldown[0])
    if name == "cooldown_seconds":
        return _parse_seconds(text, global_cooldown[1])
    if name == "content_ceiling":
        try:
            return parse_rating(text)
        except ValueError:
            allowed = ", ".join(r.value for r in RATING_ORDER)
            raise SettingError(f"`content_ceiling` is one of {allowed}.") from None
    return _parse_bool(name, text)


def _parse_int(name: str, text: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise SettingError(f"`{name}` is a whole number from {low} to {high}.")
    return value


def _parse_seconds(text: str, global_seconds: float) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not global_seconds <= value <= MAX_COOLDOWN_SECONDS:  # also refuses NaN and inf
        raise SettingError(
            f"`cooldown_seconds` is from {global_seconds:g} (the bot's own window; a server "
            f"may only be stricter) to {MAX_COOLDOWN_SECONDS:g}."
        )
    return value


def _parse_bool(name: str, text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise SettingError(f"`{name}` is yes or no.")


def _parse_channels(text: str, visible: Callable[[str], bool] | None) -> frozenset[str]:
    """Channel mentions or ids, separated by spaces or commas; empty or ``all``: everywhere."""
    if text.lower() in ("", "all", "any", "everywhere"):
        return frozenset()
    tokens = [t for t in text.replace(",", " ").split() if t]
    ids = []
    for token in tokens:
        digits = token.removeprefix("<#").removesuffix(">")
        if not digits.isascii() or not digits.isdigit() or len(digits) > 20:
            raise SettingError(
                f"`{token[:40]}` is not a channel: mention channels (#name) or give their ids."
            )
        ids.append(digits)
    if len(set(ids)) > MAX_PROMPT_CHANNELS:
        raise SettingError(f"At most {MAX_PROMPT_CHANNELS} channels.")
    hidden = [c for c in ids if visible is not None and not visible(c)]
    if hidden:
        shown = ", ".join(f"<#{c}>" for c in hidden[:5])
        raise SettingError(
            f"I can't see {shown}: give me View Channels and Send Messages there first, "
            "or pick channels I can see."
        )
    return frozenset(ids)
