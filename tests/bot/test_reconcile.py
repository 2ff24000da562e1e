"""Catching up on votes cast while the bot was offline: what the reconciliation plans from a
message's reactions and standing votes, a restarted bot bringing the votes table in line, and
doing so within Discord's limits (history pages, reaction lists only where counts changed,
a request budget that a later start resumes from)."""

from __future__ import annotations

import asyncio
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from bot.reconcile import Segment, VoteChange, plan_segments, plan_votes
from storage.database import Database, utcnow
from storage.repositories.prompts import list_prompts
from storage.repositories.reconcile import ChannelProgress, ResultChannel, touch_gateway
from storage.repositories.requests import ShownResult, attach_message, record_request
from storage.repositories.votes import record_vote
from storage.settings import Settings
from tests.fakediscord import Channel, EmojiRef, FakeDiscord, Message, RequestRecord, running_client
from tests.helpers.bot import (
    USER,
    VOTER,
    ask,
    eventually,
    make_settings,
    new_bot,
    results_of,
    vote_of,
)


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


# --------------------------------------------------------------------------- within limits


@dataclass
class Seeded:
    """Result messages in the fake and the database, by channel, oldest first."""

    channels: list[Channel]
    messages: dict[int, list[Message]]


def seed_results(
    fake: FakeDiscord, db: Database, channels: list[Channel], per_channel: int, asked: datetime
) -> Seeded:
    """``per_channel`` result messages (five per request) in each channel, carrying the bot's
    own 👍/👎, posted by a bot run that has since stopped (no gateway events)."""
    bot_id = fake.bot_user.id
    thumbs = [EmojiRef.parse(emoji) for emoji in ("👍", "👎")]
    seeded = Seeded(channels, {})
    with db.session() as session:
        prompt_ids = [p.id for p in list_prompts(session)[:5]]
        for channel in channels:
            messages = seeded.messages.setdefault(channel.id, [])
            for _ in range(per_channel // 5):
                request = record_request(
                    session,
                    user_id=str(USER),
                    raw_query="lighthouse",
                    normalized_query="lighthouse",
                    model_version_id="base",
                    results=[ShownResult(p, 0.5, "base") for p in prompt_ids],
                    now=asked,
                    guild_id=str(channel.guild_id),
                    channel_id=str(channel.id),
                )
                for result in request.results:
                    message = fake.state.new_message(channel, bot_id, {"embeds": [{"title": "x"}]})
                    for thumb in thumbs:
                        fake.state.set_reaction(message, thumb, bot_id, add=True)
                    attach_message(session, result.id, str(message.id), str(channel.id))
                    messages.append(message)
    return seeded


def cast(db: Database, message: Message, user: int, value: int, at: datetime) -> None:
    with db.session() as session:
        record_vote(session, str(message.id), str(user), value, at)


def last_seen(db: Database, at: datetime, shard: str = "0/1") -> None:
    with db.session() as session:
        touch_gateway(session, [shard], at)


def channel_reads(fake: FakeDiscord, since: int = 0) -> tuple[list[RequestRecord], list]:
    """(history pages, reaction-list reads) among the requests from index ``since`` on."""
    requests = fake.requests[since:]
    pages = [r for r in requests if r.method == "GET" and re.fullmatch(HISTORY, r.path)]
    lists = [r for r in requests if r.method == "GET" and re.fullmatch(REACTION_LIST, r.path)]
    return pages, lists


HISTORY = r"/channels/\d+/messages"
REACTION_LIST = r"/channels/\d+/messages/\d+/reactions/[^/]+"


@pytest.mark.slow
async def test_catch_up_reads_history_pages_and_only_the_reaction_lists_that_changed(
    fake: FakeDiscord, bot_db: Database, tmp_path: Path, model_cache_dir: Path
) -> None:
    """1,000 results in 5 channels, the bot away for half an hour: 10 history pages, one
    reaction list per message whose counts differ from its votes, nothing else; all in the
    background, /prompt answering meanwhile."""
    now = utcnow()
    guild = next(iter(fake.guilds.values()))
    channels = [guild.channel] + [fake.add_channel(guild.id, f"c{n}") for n in range(4)]
    seeded = seed_results(fake, bot_db, channels, 200, asked=now - timedelta(hours=1))
    posted_after_away = fake.add_channel(guild.id, "later")  # cannot be: the bot was away
    seed_results(fake, bot_db, [posted_after_away], 5, asked=now - timedelta(minutes=1))
    last_seen(bot_db, now - timedelta(minutes=30))

    everything = [m for c in channels for m in seeded.messages[c.id]]
    settled_votes, cast_away, taken_back = everything[:30], everything[30:50], everything[50:60]
    for message in settled_votes:  # reaction and vote agree: no list to read
        fake.react_offline(USER, message.channel_id, message.id, "👍")
        cast(bot_db, message, USER, 1, now - timedelta(hours=1))
    for message in cast_away:
        fake.react_offline(VOTER, message.channel_id, message.id, "👎")
    for message in taken_back:
        cast(bot_db, message, USER, 1, now - timedelta(hours=1))

    # 10 reads a second: the 30 reads take 3 s, during which /prompt is answered as usual
    settings = make_settings(bot_db, tmp_path, model_cache_dir, reconcile_requests_per_second=10.0)
    async with running_client(new_bot(settings, bot_db), fake) as bot:
        await fake.wait_for_commands("prompt")
        catching_up = bot.get_cog("Feedback").reconciliation
        record = await ask(fake, "fantasy dragons")
        assert not catching_up.done()
        assert record.latency is not None and record.latency < 3.0
        report = await asyncio.wait_for(catching_up, 30.0)

    pages, lists = channel_reads(fake)
    assert len(pages) == 5 * math.ceil(200 / 100)
    assert len(lists) == len(cast_away)  # 👎 read; 👍 holds only the bot's own
    assert {r.query["limit"] for r in pages} == {"100"}
    assert str(posted_after_away.id) not in {r.path.split("/")[2] for r in pages}
    assert (report.messages, report.recorded, report.removed) == (1000, 20, 10)
    assert (report.requests, report.complete) == (len(pages) + len(lists), True)
    assert all(vote_of(bot_db, m, VOTER) == (-1, False) for m in cast_away)
    assert all(vote_of(bot_db, m, USER) == (1, True) for m in taken_back)
    assert all(vote_of(bot_db, m, USER) == (1, False) for m in settled_votes)


@pytest.mark.slow
async def test_a_catch_up_cut_short_by_its_budget_resumes_on_the_next_start(
    fake: FakeDiscord, bot_db: Database, tmp_path: Path, model_cache_dir: Path
) -> None:
    now = utcnow()
    guild = next(iter(fake.guilds.values()))
    channels = [guild.channel, fake.add_channel(guild.id, "second")]
    seeded = seed_results(fake, bot_db, channels, 150, asked=now - timedelta(hours=1))
    last_seen(bot_db, now - timedelta(minutes=30))
    first = seeded.messages[channels[0].id]
    cast_away = first[120:122] + seeded.messages[channels[1].id][:1]
    for message in cast_away:
        fake.react_offline(VOTER, message.channel_id, message.id, "👍")

    # two pages and one reaction list: the budget runs out at the second list
    settings = make_settings(
        bot_db,
        tmp_path,
        model_cache_dir,
        reconcile_requests_per_second=1000.0,
        reconcile_max_requests=3,
    )
    async with running_client(new_bot(settings, bot_db), fake) as bot:
        cut = await asyncio.wait_for(bot.get_cog("Feedback").reconciliation, 30.0)
    assert (cut.requests, cut.recorded, cut.complete) == (3, 1, False)
    assert vote_of(bot_db, cast_away[1], VOTER) is None

    before = len(fake.requests)
    settings = make_settings(
        bot_db, tmp_path, model_cache_dir, reconcile_requests_per_second=1000.0
    )
    async with running_client(new_bot(settings, bot_db), fake) as bot:
        resumed = await asyncio.wait_for(bot.get_cog("Feedback").reconciliation, 30.0)

    pages, _ = channel_reads(fake, before)
    # where the first catch-up stopped (after its first full page), then the rest
    assert pages[0].query["after"] == str(first[99].id)
    assert resumed.complete
    assert all(vote_of(bot_db, m, VOTER) == (1, False) for m in cast_away)


def test_segments_resume_where_a_scan_stopped_then_wrap_then_the_longest_unread() -> None:
    channels = [
        ResultChannel("1", "9", ("100", "200", "300")),
        ResultChannel("2", "9", ("110", "210")),
        ResultChannel("3", "9", ("120",)),
    ]
    progress = {
        "1": ChannelProgress(None, datetime(2026, 1, 2)),
        "2": ChannelProgress(None, datetime(2026, 1, 1)),
        "3": ChannelProgress("119", None),  # outside its window: read as if new
    }
    assert plan_segments(channels, progress) == [
        Segment(3, 119, 120),
        Segment(2, 109, 210),
        Segment(1, 99, 300),
    ]
    progress["1"] = ChannelProgress("200", datetime(2026, 1, 2))
    assert plan_segments(channels, progress)[:2] == [Segment(1, 200, 300), Segment(1, 99, 200)]


@pytest.mark.slow
async def test_a_database_failure_in_one_channel_skips_that_channel_not_the_catch_up(
    fake: FakeDiscord,
    bot_db: Database,
    tmp_path: Path,
    model_cache_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import bot.reconcile

    now = utcnow()
    guild = next(iter(fake.guilds.values()))
    failing, healthy = guild.channel, fake.add_channel(guild.id, "healthy")
    seeded = seed_results(fake, bot_db, [failing, healthy], 5, asked=now - timedelta(hours=1))
    last_seen(bot_db, now - timedelta(minutes=30))
    for channel in (failing, healthy):
        message = seeded.messages[channel.id][0]
        fake.react_offline(VOTER, message.channel_id, message.id, "👍")
    failing_ids = {str(m.id) for m in seeded.messages[failing.id]}
    real_counts = bot.reconcile._standing_counts

    def counts_failing_in_one_channel(db: Database, ids: list[str]) -> object:
        if failing_ids & set(ids):  # the database drops out while this channel is read
            raise OperationalError("SELECT", {}, Exception("server closed the connection"))
        return real_counts(db, ids)

    monkeypatch.setattr(bot.reconcile, "_standing_counts", counts_failing_in_one_channel)
    settings = make_settings(bot_db, tmp_path, model_cache_dir, reconcile_requests_per_second=1e3)
    async with running_client(new_bot(settings, bot_db), fake) as client:
        report = await asyncio.wait_for(client.get_cog("Feedback").reconciliation, 30.0)

    assert report.unreachable == [str(failing.id)]
    assert vote_of(bot_db, seeded.messages[healthy.id][0], VOTER) == (1, False)
    assert vote_of(bot_db, seeded.messages[failing.id][0], VOTER) is None  # next start
