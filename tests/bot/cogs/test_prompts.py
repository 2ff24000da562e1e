"""`/prompt`: login and sync, results as embeds with the bot's 👍/👎, message ids recorded;
and bad input and limits: a short private explanation, no stack trace, nothing recorded,
nobody pinged, and a polite answer to flooding."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.client import PromptBot
from retrieval.corpus import SHIPPED_CORPUS, import_prompt_file
from storage.database import Database
from storage.models import Request, Result
from tests.fakediscord import FakeDiscord, Perm, running_client
from tests.helpers.bot import (
    USER,
    ask,
    copy_database,
    make_settings,
    new_bot,
    results_of,
    wait_notice,
)
from tests.helpers.serving import GatedEngines

pytestmark = pytest.mark.slow  # every test starts the bot, which loads the base model


def stored_results(db: Database) -> list[Result]:
    with db.session() as session:
        return list(session.scalars(select(Result).order_by(Result.id)))


def request_count(db: Database) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(Request)) or 0


async def test_logs_in_syncs_and_answers_within_three_seconds(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database
) -> None:
    assert {c["name"] for c in fake.commands()} == {
        *("prompt", "model", "settings", "privacy", "prompts", "daily"),
    }
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


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("keywords", "expected"),
    [
        ("", "Give me a few keywords"),
        ("   \t ", "Give me a few keywords"),
        ("!!!", "not just punctuation"),
        ("dragons " * 25 + "x", "201 characters"),
    ],
)
async def test_unusable_keywords_get_a_private_explanation(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database, keywords: str, expected: str
) -> None:
    record = await ask(fake, keywords)
    text = await wait_notice(record)
    assert expected in text and "Traceback" not in text
    assert record.callback_type == 4 and record.latency < 3.0
    assert record.callback_data["allowed_mentions"] == {"parse": []}
    assert request_count(bot_db) == 0


async def test_mentions_in_keywords_never_ping(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database
) -> None:
    record = await ask(fake, "@everyone dragons", count=2)
    await results_of(fake, record, 2)
    assert record.callback_data["allowed_mentions"] == {"parse": []}
    assert all(m.allowed_mentions == {"parse": []} for m in record.messages)
    assert request_count(bot_db) == 1


async def test_no_prompts_imported_is_explained(
    fake: FakeDiscord, empty_template: Path, tmp_path: Path, model_cache_dir: Path
) -> None:
    db = copy_database(empty_template, tmp_path)
    try:
        async with running_client(new_bot(make_settings(db, tmp_path, model_cache_dir), db), fake):
            await fake.wait_for_commands("prompt")
            text = await wait_notice(await ask(fake, "fantasy dragons"))
        assert "No prompts are imported" in text and "promptbot init" in text
        assert request_count(db) == 0
    finally:
        db.dispose()


async def test_flooding_gets_a_polite_cooldown_notice(
    fake: FakeDiscord, bot_db: Database, tmp_path: Path, model_cache_dir: Path
) -> None:
    settings = make_settings(
        bot_db, tmp_path, model_cache_dir, cooldown_requests=2, cooldown_seconds=30.0
    )
    async with running_client(new_bot(settings, bot_db), fake):
        await fake.wait_for_commands("prompt")
        for _ in range(2):
            await results_of(fake, await ask(fake, "space pirates"))
        text = await wait_notice(await ask(fake, "space pirates"))
        assert "try again in" in text and "2 prompts per 30 s" in text
        await results_of(fake, await ask(fake, "space pirates", user=USER + 1))  # others may
    assert request_count(bot_db) == 3


async def test_a_model_that_fails_to_load_is_explained_after_deferring(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database
) -> None:
    def unloadable(version_id: str) -> None:
        raise OSError(f"model files of {version_id} are unreadable")

    bot.pool.engine = unloadable  # type: ignore[method-assign]
    bot.get_cog("Prompts").defer_after = 0.0  # the public "thinking…" is up when it fails
    record = await ask(fake, "fantasy dragons")
    await record.wait_for(lambda r: r.followups)

    assert record.callback_type == 5 and record.original.deleted
    [message] = record.messages
    assert message.ephemeral and "could not be loaded" in message.content
    assert "Traceback" not in message.content and "unreadable" not in message.content
    assert request_count(bot_db) == 0


async def test_while_the_first_index_is_built_users_hear_how_far_it_got(
    fake: FakeDiscord, empty_template: Path, tmp_path: Path, model_cache_dir: Path
) -> None:
    db = copy_database(empty_template, tmp_path)
    try:
        bot = new_bot(make_settings(db, tmp_path, model_cache_dir), db)
        async with running_client(bot, fake):
            await fake.wait_for_commands("prompt")  # nothing imported: nothing serves yet
            import_prompt_file(db, SHIPPED_CORPUS)  # a first import lands
            gate = GatedEngines(bot.pool.engine_factory, gated=frozenset({"base"}))
            bot.pool.engine_factory = gate
            loading = asyncio.ensure_future(asyncio.to_thread(bot.pool.refresh))  # the poll
            await asyncio.to_thread(gate.halfway.wait, 10)
            text = await wait_notice(await ask(fake, "fantasy dragons"))
            assert "being built (50% done)" in text and "try again" in text
            gate.release.set()
            await loading
            await results_of(fake, await ask(fake, "fantasy dragons"))
        assert gate.builds == ["base"] and request_count(db) == 1
    finally:
        db.dispose()


async def test_a_result_discord_refuses_is_skipped_and_the_user_told_exactly_that(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database
) -> None:
    refused = fake.fail_next("POST", r"/webhooks/", status=400, code=50035, message="Invalid")
    record = await ask(fake, "haunted lighthouse", count=3)
    messages = await record.wait_messages(3)
    bot_id = fake.bot_user.id
    public, [note] = messages[:2], messages[2:]
    await fake.wait_for(
        lambda: all(fake.reactions(m.id).get("👎") == {bot_id} for m in public),
        timeout=5.0,
        what="the bot's 👍/👎 on the posted results",
    )
    assert len(refused.hits) == 1 and not any(m.ephemeral for m in public)
    assert note.ephemeral and "refused 1 of the 3 results" in note.content
    assert "nothing was recorded" not in note.content
    results = stored_results(bot_db)
    assert len(results) == 3
    assert sorted(r.message_id for r in results if r.message_id) == sorted(
        str(m.id) for m in public
    )
