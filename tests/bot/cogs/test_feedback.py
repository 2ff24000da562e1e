"""Reactions as votes: 👍/👎, a switch, a removal, and the reactions that are ignored."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.client import PromptBot
from storage.database import Database
from storage.models import Vote
from storage.repositories.votes import list_votes
from tests.fakediscord import FakeDiscord, Message
from tests.helpers.bot import USER, VOTER, ask, eventually, results_of, vote_of

pytestmark = pytest.mark.slow  # every test starts the bot on the embedded shipped corpus


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
