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
from tests.helpers.faults import (
    ReactionEvent,
    expected_votes,
    fail_commits,
    reaction_storm,
    stored_votes,
    votes_lost,
)

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


async def test_votes_survive_failing_commits_through_discord(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database
) -> None:
    """10% of commits fail, then all of them for a while: every vote lands once, in order."""
    messages = await results_of(fake, await ask(fake, "fantasy dragons", count=3), n=3)
    voters = [fake.add_member(name=f"voter{i}").id for i in range(6)]
    feedback = bot.get_cog("Feedback")
    feedback.catch_up_votes.change_interval(seconds=0.05)
    bot.service.votes.backoff_s = 0.0
    faults = fail_commits(bot_db.engine, share=0.10, seed=5)
    reader = Database(bot_db.url)  # the test's own reads go through an engine without faults
    storm = reaction_storm(90, [str(m.id) for m in messages], [str(v) for v in voters], seed=2)
    delivered: list[ReactionEvent] = []
    for i, e in enumerate(storm):
        faults.share = 1.0 if 30 <= i < 45 else 0.10  # an outage: these must queue
        channel = messages[0].channel_id
        if await fake.user_react(int(e.user_id), channel, int(e.message_id), e.emoji, e.added):
            delivered.append(e)  # Discord only sends a change of state
        if i == 44:
            await eventually(lambda: bot.service.votes.pending > 0)
    faults.share = 0.10
    expected = expected_votes(delivered)
    # handlers still in flight hold votes not yet queued: wait for them to land, not just
    # for the queue to drain (the assertion below is the same check, made once more)
    await eventually(
        lambda: bot.service.votes.pending == 0 and votes_lost(expected, stored_votes(reader)) == 0,
        timeout=30.0,
    )
    faults.enabled = False
    # the faults bit (how many depends on timing: during the outage a write queues behind
    # the first refused one without trying a commit of its own)
    assert faults.failed > 0
    assert votes_lost(expected, stored_votes(reader)) == 0
    reader.dispose()
