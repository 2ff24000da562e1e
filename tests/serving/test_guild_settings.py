"""Server settings as serving sees them: what a typed value means, and how soon every process
sees a change (two caches on one database stand for two bot processes)."""

from __future__ import annotations

import pytest

from serving.guild_settings import (
    CACHE_MAX_AGE_S,
    GuildSettingsCache,
    SettingError,
    ceiling_for,
    parse_setting,
)
from storage.database import Database
from storage.ratings import Rating
from storage.repositories.audit import recent_audit
from storage.repositories.guild_settings import GuildSettings

GLOBAL_COOLDOWN = (5, 60.0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_change_in_one_process_reaches_another_within_ten_seconds(db: Database) -> None:
    clock = Clock()
    writer, reader = GuildSettingsCache(db, clock=clock), GuildSettingsCache(db, clock=clock)
    assert reader.get("111").max_count == 5  # read and cached before the change
    writer.update("111", {"max_count": 2}, "discord:1")
    assert writer.get("111").max_count == 2  # the writing process sees it at once
    clock.now += CACHE_MAX_AGE_S - 0.1
    assert reader.get("111").max_count == 5  # still cached: no read per request
    clock.now += 0.2
    assert reader.get("111").max_count == 2
    assert CACHE_MAX_AGE_S < 10
    assert reader.get("222") == GuildSettings("222")  # the other server is untouched


def test_changes_and_resets_are_audited_with_the_server(db: Database) -> None:
    cache = GuildSettingsCache(db)
    cache.update("111", {"content_ceiling": Rating.GENERAL}, "discord:1", audit_details={"c": 9})
    cache.reset("111", "discord:1", ["content_ceiling"])
    with db.session() as session:
        reset, change = recent_audit(session, 2)
        assert (change.action, change.target, change.details) == (
            "settings.set",
            "guild:111",
            {"content_ceiling": "general", "c": 9},
        )
        assert (reset.action, reset.details) == (
            "settings.reset",
            {"settings": ["content_ceiling"]},
        )
    assert cache.get("111").content_ceiling is Rating.TEEN


def test_a_default_count_above_the_maximum_is_refused_and_nothing_changes(db: Database) -> None:
    cache = GuildSettingsCache(db)
    cache.update("111", {"max_count": 3}, "discord:1")
    with pytest.raises(SettingError, match="above the maximum"):
        cache.update("111", {"default_count": 4}, "discord:1")
    cache.update("111", {"default_count": 3}, "discord:1")
    with pytest.raises(SettingError, match="above the maximum"):
        cache.update("111", {"max_count": 2}, "discord:1")
    assert (cache.get("111").default_count, cache.get("111").max_count) == (3, 3)


@pytest.mark.parametrize(
    ("name", "raw", "value"),
    [
        ("max_count", "1", 1),
        ("max_count", " 5 ", 5),
        ("default_count", "2", 2),
        ("cooldown_requests", "1", 1),
        ("cooldown_requests", "5", 5),
        ("cooldown_seconds", "60", 60.0),
        ("cooldown_seconds", "86400", 86400.0),
        ("content_ceiling", "Mature", Rating.MATURE),
        ("join_experiments", "no", False),
        ("contribute_votes", "YES", True),
        ("prompt_channels", "<#123456789012345678>, 223456789012345678", None),
        ("prompt_channels", "all", frozenset()),
    ],
)
def test_values_inside_the_ranges(name: str, raw: str, value: object) -> None:
    parsed = parse_setting(name, raw, GLOBAL_COOLDOWN, visible_channels=lambda _c: True)
    if name == "prompt_channels" and value is None:
        value = frozenset({"123456789012345678", "223456789012345678"})
    assert parsed == value


@pytest.mark.parametrize(
    ("name", "raw", "why"),
    [
        ("max_count", "0", "from 1 to 5"),
        ("max_count", "6", "from 1 to 5"),
        ("default_count", "two", "from 1 to 5"),
        ("cooldown_requests", "6", "from 1 to 5"),  # looser than the bot's 5 per window
        ("cooldown_seconds", "59.9", "only be stricter"),
        ("cooldown_seconds", "nan", "only be stricter"),
        ("cooldown_seconds", "86401", "only be stricter"),
        ("content_ceiling", "adult", "general, teen, mature"),
        ("join_experiments", "maybe", "yes or no"),
        ("prompt_channels", "#general", "not a channel"),
        ("prompt_channels", "1" * 21, "not a channel"),
        ("colour", "red", "no setting `colour`"),
    ],
)
def test_values_outside_the_ranges_are_explained(name: str, raw: str, why: str) -> None:
    with pytest.raises(SettingError, match=why):
        parse_setting(name, raw, GLOBAL_COOLDOWN, visible_channels=lambda _c: True)


def test_a_channel_the_bot_cannot_see_is_refused_by_mention() -> None:
    visible = {"123456789012345678"}.__contains__
    with pytest.raises(SettingError, match="can't see <#223456789012345678>"):
        parse_setting(
            "prompt_channels", "123456789012345678 223456789012345678", GLOBAL_COOLDOWN, visible
        )


def test_the_ceiling_for_a_channel() -> None:
    mature = GuildSettings("1", content_ceiling=Rating.MATURE)
    assert ceiling_for(mature, age_restricted_channel=True) is Rating.MATURE
    assert ceiling_for(mature, age_restricted_channel=False) is Rating.TEEN
    assert ceiling_for(GuildSettings("1"), age_restricted_channel=True) is Rating.TEEN
