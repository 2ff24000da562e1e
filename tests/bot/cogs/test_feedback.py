"""Reactions as votes: 👍/👎/switch/removal, what is ignored, and votes cast while offline."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from bot.client import PromptBot
from bot.reconcile import VoteChange, plan_votes
from storage.database import Database
from storage.models import Vote
from storage.repositories.votes import current_vote, list_votes
from storage.settings import Settings
from tests.bot.conftest import USER, ask, eventually, new_bot, results_of
from tests.fakediscord import FakeDiscord, Message, running_client

VOTER = 777


def vote_of(db: Database, message: Message, user: int) -> tuple[int, bool] | None:
    with db.session() as session:
        vote = current_vote(session, str(message.id), str(user))
        return None if vote is None else (vote.value, vote.removed_at is not None)


def vote_count(db: Database) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(Vote)) or 0


async def one_result(fake: FakeDiscord, keywords: str = "fantasy dragons") -> Message:
    [message] = await results_of(fake, await ask(fake, keywords))
    return message


async def test_thumbs_up_switch_and_removal(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database
) -> None:
    message = await one_result(fake)
    channel = message.channel_id

    await fake.user_react(VOTER, channel, message.id, "👍")
    assert await eventually(lambda: vote_of(bot_db, message, VOTER)) == (1, False)

    await fake.user_react(VOTER, channel, message.id, "👎")  # a switch: 👎 added ...
    await fake.user_react(VOTER, channel, message.id, "👍", add=False)  # ... 👍 taken back
    assert await eventually(lambda: vote_of(bot_db, message, VOTER) == (-1, False))
    with bot_db.session() as session:
        [view] = list_votes(session)
    assert (view.value, view.user_id, view.rank, view.model_version) == (-1, "777", 1, "base")
    assert view.query == "fantasy dragons" and view.message_id == str(message.id)

    await fake.user_react(VOTER, channel, message.id, "👎", add=False)
    assert await eventually(lambda: vote_of(bot_db, message, VOTER) == (-1, True))
    with bot_db.session() as session:
        assert list_votes(session) == []
        assert len(list_votes(session, include_removed=True)) == 1


async def test_ignored_reactions_record_nothing(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database
) -> None:
    message = await one_result(fake)  # the bot's own 👍/👎 events have arrived by now
    other_bot = fake.add_member(name="otherbot", bot=True)
    await fake.user_react(other_bot.id, message.channel_id, message.id, "👍")
    await fake.user_react(VOTER, message.channel_id, message.id, "😀")
    not_a_result = await fake.post_message(USER, message.channel_id, "hello")
    await fake.user_react(VOTER, not_a_result.channel_id, not_a_result.id, "👍")
    chatter = await bot.get_channel(message.channel_id).send("not a result")
    await fake.user_react(VOTER, message.channel_id, chatter.id, "👎")
    # a real vote afterwards proves the events before it were handled (they are in order)
    await fake.user_react(USER, message.channel_id, message.id, "👍")
    await eventually(lambda: vote_of(bot_db, message, USER))

    assert vote_count(bot_db) == 1
    assert vote_of(bot_db, message, fake.bot_user.id) is None
    assert vote_of(bot_db, message, other_bot.id) is None


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
