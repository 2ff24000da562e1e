"""A catalogue of bad input through Discord: `/prompt` options and reactions, sent by the real
discord.py client's counterpart (tests.fakediscord) to a real PromptBot.

Options the bot sees get one short private line, no traceback, nobody pinged and nothing
recorded; options Discord itself refuses (the command's declared limits, which the fake
enforces as Discord does) never reach the bot. Reactions that are not a person's 👍/👎 on a
result record nothing; a 👍/👎 in a skin tone is a vote like any other.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from bot.client import PromptBot
from storage.database import Database
from storage.models import Request, Vote
from tests.fakediscord import FakeDiscord
from tests.helpers.bot import USER, VOTER, ask, eventually, results_of, vote_of, wait_notice

pytestmark = pytest.mark.slow  # every test starts the bot on the embedded shipped corpus

PUNCTUATION = "I need words to search for, not just punctuation or symbols."
NO_KEYWORDS = "Give me a few keywords, e.g. `/prompt fantasy dragons`."

# options the bot receives: (options, the exact private line it answers with)
OPTION_CASES: dict[str, tuple[dict[str, object], str]] = {
    "6,000-character keywords (Discord's most)": (
        {"keywords": "dragons " * 750},
        "That's 6000 characters; keep keywords under 200.",
    ),
    "201 characters of emoji": ({"keywords": "🐉" * 201}, "That's 201 characters; keep"),
    "only newlines and tabs": ({"keywords": "\n\t\r\n"}, NO_KEYWORDS),
    "only control characters": ({"keywords": "\x00\x1b\x07\x7f"}, PUNCTUATION),
    "only zero-width characters": ({"keywords": "\u200b\u200d\ufeff"}, PUNCTUATION),
    "only emoji": ({"keywords": "🐉🔥✨"}, PUNCTUATION),
    "only markdown": ({"keywords": "**__~~||``||~~__**"}, PUNCTUATION),
    "only a bidi override": ({"keywords": "\u202e\u202d"}, PUNCTUATION),
    "unknown genre": (
        {"keywords": "dragons", "genre": "polka"},
        "I don't know the genre “polka”; pick one from the list.",
    ),
    "genre of markdown and a mention": (
        {"keywords": "dragons", "genre": "**@everyone**"},
        "I don't know the genre “\\*\\*@\u200beveryone\\*\\*”; pick one from the list.",
    ),
    "6,000-character genre": (
        {"keywords": "dragons", "genre": "g" * 6000},
        f"I don't know the genre “{'g' * 49}…”; pick one from the list.",
    ),
    "genre of control characters": (
        {"keywords": "dragons", "genre": "\x1b[2J"},
        "I don't know the genre “\\\\x1b[2J”; pick one from the list.",
    ),
    "genre of spaces": (
        {"keywords": "dragons", "genre": "   "},
        "I don't know the genre “   ”; pick one from the list.",
    ),
}

# options Discord refuses before the bot sees them: (options, Discord's reason)
REFUSED_BY_DISCORD: dict[str, tuple[dict[str, object], str]] = {
    "8,000-character keywords": ({"keywords": "x" * 8000}, "length 8000 outside min/max_length"),
    "count 0": ({"keywords": "dragons", "count": 0}, "0 outside [1, 5]"),
    "count 6": ({"keywords": "dragons", "count": 6}, "6 outside [1, 5]"),
    "count -3": ({"keywords": "dragons", "count": -3}, "-3 outside [1, 5]"),
    "count a fraction": ({"keywords": "dragons", "count": 2.5}, "is an integer option"),
    "no keywords at all": ({"count": 2}, "missing required option(s) ['keywords']"),
}


def request_count(db: Database) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(Request)) or 0


def vote_count(db: Database) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(Vote)) or 0


async def test_every_bad_option_gets_its_one_private_line(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database
) -> None:
    wrong = {}
    for case, (options, expected) in OPTION_CASES.items():
        record = await fake.invoke_command(USER + 1, name="prompt", options=options)
        text = await wait_notice(record)
        if not (text.startswith(expected) and "\n" not in text and "Traceback" not in text):
            wrong[case] = text
        assert record.callback_data["allowed_mentions"] == {"parse": []}, case
    assert wrong == {}
    assert request_count(bot_db) == 0


async def test_options_discord_refuses_never_reach_the_bot(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database
) -> None:
    for options, reason in REFUSED_BY_DISCORD.values():
        with pytest.raises((ValueError, TypeError), match=re.escape(reason)):
            await fake.invoke_command(USER, name="prompt", options=options)
    assert fake.find_requests("POST", r"/interactions/") == []  # the bot never answered one
    assert request_count(bot_db) == 0


async def test_control_characters_and_a_bidi_override_around_words_still_search(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database
) -> None:
    [message] = await results_of(fake, await ask(fake, "\u202e\x1b[31mdragons\x00 gold\u200b"))
    assert not message.ephemeral and message.embeds
    with bot_db.session() as session:
        [request] = session.scalars(select(Request))
    assert request.normalized_query == "31mdragons gold"


async def test_reactions_that_are_no_vote_record_nothing(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database
) -> None:
    [result] = await results_of(fake, await ask(fake, "fantasy dragons"))
    channel = result.channel_id
    other_bot = fake.add_member(name="otherbot", bot=True)
    someones_post = await fake.post_message(USER, channel, "hello")
    bots_chatter = await bot.get_channel(channel).send("not a result")
    no_votes = {
        "unknown emoji": (VOTER, result.id, "😀"),
        "a custom emoji": (VOTER, result.id, "thumbsup:123456789012345678"),
        "a look-alike (👌)": (VOTER, result.id, "👌"),
        "the bot's own 👍": (fake.bot_user.id, result.id, "👎"),
        "another bot's 👍": (other_bot.id, result.id, "👍"),
        "👍 on someone's message": (VOTER, someones_post.id, "👍"),
        "👍 on the bot's non-result message": (VOTER, bots_chatter.id, "👍"),
    }
    for user, message_id, emoji in no_votes.values():
        await fake.user_react(user, channel, message_id, emoji)
    await fake.user_react(VOTER, channel, result.id, "👍", add=False)  # never added: no event
    # a real vote afterwards proves the events before it were handled (they arrive in order)
    await fake.user_react(USER, channel, result.id, "👍")
    await eventually(lambda: vote_of(bot_db, result, USER))
    assert vote_count(bot_db) == 1


async def test_a_thumb_in_a_skin_tone_is_a_vote(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database
) -> None:
    [result] = await results_of(fake, await ask(fake, "haunted lighthouse"))
    await fake.user_react(VOTER, result.channel_id, result.id, "👍🏽")
    assert await eventually(lambda: vote_of(bot_db, result, VOTER)) == (1, False)
    await fake.user_react(VOTER, result.channel_id, result.id, "👎🏿")
    await fake.user_react(VOTER, result.channel_id, result.id, "👍🏽", add=False)
    assert await eventually(lambda: vote_of(bot_db, result, VOTER) == (-1, False))
    await fake.user_react(VOTER, result.channel_id, result.id, "👎🏿", add=False)
    assert await eventually(lambda: vote_of(bot_db, result, VOTER) == (-1, True))
