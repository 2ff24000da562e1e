"""Per-server settings and departures: defaults, changes, resets, and servers kept apart."""

from __future__ import annotations

from datetime import timedelta

import pytest

from storage.database import Database
from storage.ratings import Rating
from storage.repositories import guild_settings as gs
from tests.helpers.storage import T0


def test_a_server_that_chose_nothing_and_a_dm_get_todays_behaviour(db: Database) -> None:
    with db.session() as s:
        assert gs.guild_settings(s, None) == gs.GuildSettings()
        chosen_nothing = gs.guild_settings(s, "111")
    assert chosen_nothing == gs.GuildSettings("111")
    assert chosen_nothing.content_ceiling is Rating.TEEN
    assert (chosen_nothing.default_count, chosen_nothing.max_count) == (1, 5)
    assert chosen_nothing.allows_channel("any channel")
    assert chosen_nothing.join_experiments and chosen_nothing.contribute_votes


def test_changes_stay_with_their_server_and_reset_one_or_all(db: Database) -> None:
    with db.session() as s:
        gs.update_guild_settings(
            s,
            "111",
            {
                "prompt_channels": frozenset({"5", "6"}),
                "max_count": 3,
                "content_ceiling": Rating.GENERAL,
                "contribute_votes": False,
            },
            "discord:1",
            T0,
        )
        gs.update_guild_settings(s, "222", {"join_experiments": False}, "discord:2", T0)
    with db.session() as s:
        first, second = gs.guild_settings(s, "111"), gs.guild_settings(s, "222")
        assert gs.non_contributing_guilds(s) == {"111"}
    assert first.prompt_channels == {"5", "6"} and first.allows_channel("5")
    assert not first.allows_channel("7") and not first.allows_channel(None)
    assert (first.max_count, first.content_ceiling, first.join_experiments) == (
        3,
        Rating.GENERAL,
        True,
    )
    assert second == gs.GuildSettings("222", join_experiments=False)
    with db.session() as s:
        partly = gs.reset_guild_settings(s, "111", "discord:1", T0, ["max_count"])
        assert partly.max_count == 5 and partly.content_ceiling is Rating.GENERAL
        assert gs.reset_guild_settings(s, "111", "discord:1", T0) == gs.GuildSettings("111")
    with db.session() as s:
        assert gs.guild_settings(s, "111") == gs.GuildSettings("111")
        assert gs.guild_settings(s, "222").join_experiments is False
        assert gs.non_contributing_guilds(s) == set()


def test_unknown_setting_names_are_refused_and_nothing_is_stored(db: Database) -> None:
    with pytest.raises(KeyError, match="colour"), db.session() as s:
        gs.update_guild_settings(s, "111", {"max_count": 2, "colour": "red"}, "x", T0)
    with db.session() as s:
        assert gs.guild_settings(s, "111") == gs.GuildSettings("111")


def test_departures_keep_the_first_time_and_a_return_clears_them(db: Database) -> None:
    with db.session() as s:
        gs.record_guild_left(s, "111", T0)
        gs.record_guild_left(s, "111", T0 + timedelta(days=3))  # a repeated event
        gs.record_guild_left(s, "222", T0 + timedelta(days=10))
    with db.session() as s:
        assert gs.departure_time(s, "111") == T0
        assert gs.guilds_left_before(s, T0 + timedelta(days=5)) == ["111"]
        assert gs.record_guild_joined(s, "111") is True
        assert gs.record_guild_joined(s, "333") is False
    with db.session() as s:
        assert gs.guilds_left_before(s, T0 + timedelta(days=30)) == ["222"]
