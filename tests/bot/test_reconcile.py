"""Catching up on votes cast while the bot was offline: what the reconciliation plans from a
message's reactions and standing votes, and a restarted bot bringing the votes table in line."""

from __future__ import annotations

import asyncio

import pytest

from bot.reconcile import VoteChange, plan_votes
from storage.database import Database
from storage.settings import Settings
from tests.fakediscord import FakeDiscord, running_client
from tests.helpers.bot import USER, VOTER, ask, eventually, new_bot, results_of, vote_of


@pytest.mark.slow
async def test_votes_cast_while_offline_are_reconciled_on_start(
    fake: FakeDiscord, settings: Settings, bot_db: Database
) -> None:
    async with running_client(new_bot(settings, bot_db), fake):
        await fake.wait_for_commands("prompt")
        first, second = await results_of(fake, await ask(fake, "lighthouse keeper", count=2), 2)
        await fake.user_react(VOTER, first.channel_id, first.id, "👍")
        await fake.user_react(USER, second.channel_id, second.id, "👍")
        await eventually(lambda: vote_of(bot_db, second, USER))

    # the bot is offline: a new 👎, a removed 👍 and a switch happen without any event
    other_bot = fake.add_member(name="otherbot", bot=True)
    fake.react_offline(USER, first.channel_id, first.id, "👎")
    fake.react_offline(other_bot.id, first.channel_id, first.id, "👍")
    fake.react_offline(USER, second.channel_id, second.id, "👍", add=False)
    fake.react_offline(VOTER, first.channel_id, first.id, "👍", add=False)
    fake.react_offline(VOTER, first.channel_id, first.id, "👎")

    async with running_client(new_bot(settings, bot_db), fake) as restarted:
        report = await asyncio.wait_for(restarted.get_cog("Feedback").reconciliation, 5.0)

    assert (report.messages, report.recorded, report.removed) == (2, 2, 1)
    assert vote_of(bot_db, first, USER) == (-1, False)
    assert vote_of(bot_db, first, VOTER) == (-1, False)
    assert vote_of(bot_db, second, USER) == (1, True)
    assert vote_of(bot_db, first, other_bot.id) is None


@pytest.mark.parametrize(
    ("reactions", "standing", "expected"),
    [
        ({"a": {1}}, {}, [VoteChange("a", 1, True)]),
        ({"a": {-1}}, {"a": 1}, [VoteChange("a", -1, True)]),
        ({}, {"a": -1}, [VoteChange("a", -1, False)]),
        ({"a": {1, -1}}, {"a": -1}, []),  # both reactions: the standing vote stays
        ({"a": {1, -1}}, {}, []),  # both and no vote: the order is unknowable
        ({"a": {1}}, {"a": 1}, []),
    ],
)
def test_plan_votes(reactions: dict, standing: dict, expected: list) -> None:
    assert plan_votes(reactions, standing) == expected
