"""`/prompt`: login and sync, results as embeds with the bot's 👍/👎, message ids recorded."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from bot.client import PromptBot
from storage.database import Database
from storage.models import Request, Result
from tests.bot.conftest import ask, make_settings, new_bot, results_of
from tests.fakediscord import FakeDiscord, Perm, running_client


def stored_results(db: Database) -> list[Result]:
    with db.session() as session:
        return list(session.scalars(select(Result).order_by(Result.id)))


async def test_logs_in_syncs_and_answers_within_three_seconds(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database
) -> None:
    assert {c["name"] for c in fake.commands()} == {"prompt", "model"}
    record = await ask(fake, "fantasy dragons")

    assert record.callback_type == 4 and record.latency is not None and record.latency < 3.0
    [message] = await results_of(fake, record)
    assert not message.ephemeral
    [embed] = message.embeds
    assert "dragon" in f"{embed['title']} {embed['description']}".lower()
    assert embed["footer"]["text"].startswith("model base")
    assert {f["name"] for f in embed["fields"]} <= {"Genres", "Themes"}

    [result] = stored_results(bot_db)
    assert result.message_id == str(message.id) and result.channel_id == str(message.channel_id)
    assert result.rank == 1 and result.model_version_id == "base"


async def test_count_and_genre_give_one_message_per_result(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database
) -> None:
    record = await ask(fake, "dragons", count=3, genre="Humor")
    messages = await results_of(fake, record, 3)

    assert [m.id for m in messages] == record.message_ids  # the response, then 2 follow-ups
    assert all("Humor" in str(m.embeds[0]["fields"]) for m in messages)
    assert [m.embeds[0]["footer"]["text"].split(" · ")[1] for m in messages] == [
        "1 of 3",
        "2 of 3",
        "3 of 3",
    ]
    results = stored_results(bot_db)
    assert [(r.rank, r.message_id) for r in results] == [
        (i, str(m.id)) for i, m in enumerate(messages, start=1)
    ]
    with bot_db.session() as session:
        [request] = session.scalars(select(Request))
        assert request.genre_filter == "Humor" and request.user_id == "4242"


async def test_genre_autocomplete_offers_vocabulary_genres(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database
) -> None:
    choices = await fake.invoke_autocomplete(
        4242, name="prompt", options={"keywords": "robots", "genre": "sci"}, focused="genre"
    )
    assert {"name": "Science Fiction", "value": "Science Fiction"} in choices
    everything = await fake.invoke_autocomplete(
        4242, name="prompt", options={"keywords": "robots", "genre": ""}, focused="genre"
    )
    assert len(everything) == 25  # Discord's maximum

    record = await ask(fake, "robots", genre="no such genre")
    [message] = await record.wait_messages(1)
    assert message.ephemeral and "genre" in message.content
    assert stored_results(bot_db) == []


async def test_slow_search_defers_then_follows_up(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database
) -> None:
    bot.get_cog("Prompts").defer_after = 0.0  # as if the search took longer than 2 s
    record = await ask(fake, "haunted lighthouse", count=2)
    messages = await results_of(fake, record, 2)

    assert record.callback_type == 5 and record.latency < 3.0
    assert messages[0] is record.original and not messages[0].ephemeral
    assert [r.message_id for r in stored_results(bot_db)] == [str(m.id) for m in messages]


async def test_rate_limited_reaction_is_retried_and_mapping_kept(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database
) -> None:
    rule = fake.fail_next("PUT", r"/reactions/.*/@me", status=429, retry_after=0.2)
    record = await ask(fake, "time travel grief", count=2)
    messages = await results_of(fake, record, 2)

    assert len(rule.hits) == 1 and rule.remaining == 0
    assert [r.message_id for r in stored_results(bot_db)] == [str(m.id) for m in messages]
    statuses = [r.status for r in fake.find_requests("PUT", r"/reactions/")]
    assert statuses.count(429) == 1 and statuses.count(204) == 4


async def test_dev_guild_gets_the_commands_instantly(
    fake: FakeDiscord, bot_db: Database, tmp_path: Path, model_cache_dir: Path
) -> None:
    guild = next(iter(fake.guilds.values()))
    settings = make_settings(bot_db, tmp_path, model_cache_dir, dev_guild_id=guild.id)
    async with running_client(new_bot(settings, bot_db), fake):
        commands = await fake.wait_for_commands("prompt", "model", guild_id=guild.id)
        assert fake.commands() == []  # nothing global
        admin = next(c for c in commands if c["name"] == "model")
        assert int(admin["default_member_permissions"]) == Perm.MANAGE_GUILD
        await results_of(fake, await ask(fake, "cozy mystery"))
