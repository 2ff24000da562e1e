"""`promptbot run --shard-count 2 --shard-ids N` as two real processes sharing one database
(SQLite, and PostgreSQL where it is reachable): each guild's interactions and reactions reach
only the process running its shard, every interaction is answered exactly once, votes from
both land in the shared database, and a promotion, a server's settings and a server's new
prompt written to the database by another process reach the serving one within 10 s."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from storage.database import Database, utcnow
from storage.prompt_file import PromptRecord
from storage.repositories.guild_prompts import guild_prompt_key, write_guild_prompts
from storage.repositories.guild_settings import update_guild_settings
from storage.repositories.requests import result_for_message
from storage.settings import Settings
from tests.bot.cli.test_run_commands import (
    TOKEN,
    clean_env,
    copy_template,
    fake_env,
    finished,
    start_run,
    vote_value,
)
from tests.fakediscord import FakeDiscord, Guild, InteractionRecord
from tests.helpers.bot import USER, eventually, register_v1_champion, results_of
from tests.helpers.databases import ENGINES, pg_database_copy

SHARDS = 2
PROMOTION_DEADLINE = 10.0  # seconds: the longest a promotion may take to reach every process
# A server prompt nothing in the shipped corpus resembles, and the words that find it.
LAMPLIGHTER = PromptRecord(
    "lamplighter",
    "The last lamplighter on the moon keeps the crater lamps burning for tourists who stopped "
    "coming decades ago.",
    "The Moon's Lamplighter",
    ["Science Fiction"],
    ["loneliness"],
)
LAMPLIGHTER_QUERY = "moon lamplighter crater lamps"


def test_champion_poll_is_within_the_promotion_deadline() -> None:
    """Every process re-reads the champion on this period, so a promotion reaches all of
    them in time (the periodic loop is Prompts.watch_champion)."""
    assert Settings.model_fields["champion_poll_seconds"].default <= PROMOTION_DEADLINE


@pytest.fixture(params=ENGINES)
def shared_database_url(
    request: pytest.FixtureRequest, corpus_template: Path, tmp_path: Path
) -> str:
    """The database both processes use: shipped corpus imported, base model champion."""
    if request.param == "sqlite":
        return f"sqlite:///{copy_template(corpus_template, tmp_path)}"
    return pg_database_copy(request, request.getfixturevalue("pg_corpus_template"))


def served_version(db: Database, record: InteractionRecord) -> str | None:
    """The model version of the result a /prompt's first message shows."""
    message_id = str(record.messages[0].id)
    with db.session() as session:
        result = result_for_message(session, message_id)
        return None if result is None else result.model_version_id


def served_prompt(db: Database, record: InteractionRecord) -> str | None:
    """The prompt id of the result a /prompt's first message shows."""
    with db.session() as session:
        result = result_for_message(session, str(record.messages[0].id))
        return None if result is None else result.prompt_id


def change_from_another_process(db: Database, guild: Guild, allowed_channel: int) -> None:
    """What /settings set and /prompts add write when another process handles them (before a
    re-shard, say): /prompt restricted to ``allowed_channel``, one new server prompt."""
    with db.session() as session:
        changes = {"prompt_channels": [str(allowed_channel)]}
        update_guild_settings(session, str(guild.id), changes, "another-process", utcnow())
        write_guild_prompts(session, str(guild.id), [LAMPLIGHTER], "curator", "test", utcnow())


def guild_per_shard(fake: FakeDiscord) -> list[Guild]:
    return [
        fake.add_guild(f"Shard {n}", guild_id=fake.guild_id_on_shard(n, SHARDS))
        for n in range(SHARDS)
    ]


def run_env(tmp_path: Path, fake: FakeDiscord, database_url: str, cache: Path) -> dict[str, str]:
    """`promptbot run`'s environment: the fake Discord, the shared database and model cache."""
    env = fake_env(tmp_path, fake, tmp_path / "unused.db", cache, TOKEN)
    env["PROMPTBOT_DATABASE_URL"] = database_url
    return env


def all_connected(fake: FakeDiscord, processes: list[asyncio.subprocess.Process]) -> bool:
    """Every shard has a live session; a process that exited instead fails the test."""
    assert all(p.returncode is None for p in processes), "a bot process exited early"
    sessions = fake.gateway.shards.values()
    return len(sessions) == SHARDS and all(s.connection is not None for s in sessions)


async def ask_in(fake: FakeDiscord, guild: Guild, keywords: str) -> InteractionRecord:
    return await fake.invoke_command(
        USER, guild_id=guild.id, name="prompt", options={"keywords": keywords}, timeout=10.0
    )


@pytest.mark.slow
async def test_two_processes_each_answer_their_own_shard(
    shared_database_url: str,
    model_cache_dir: Path,
    v1_model_dir: Path,
    tmp_path: Path,
    no_leaks: None,
) -> None:
    async with FakeDiscord(recommended_shards=SHARDS) as fake:
        guilds = guild_per_shard(fake)
        env = run_env(tmp_path, fake, shared_database_url, model_cache_dir)
        env["PROMPTBOT_COOLDOWN_REQUESTS"] = "1000"  # the test polls /prompt until changes land
        processes = [
            await start_run(
                env, "--no-scheduler", "--shard-count", str(SHARDS), "--shard-ids", str(n)
            )
            for n in range(SHARDS)
        ]
        db = Database(shared_database_url)
        try:
            await fake.wait_for(
                lambda: all_connected(fake, processes), timeout=60.0, what="both shards"
            )
            await fake.wait_for_commands("prompt", timeout=60.0)
            identified = {s.shard_id: s.identify["shard"] for s in fake.gateway.shards.values()}
            assert identified == {0: [0, SHARDS], 1: [1, SHARDS]}

            records = [await ask_in(fake, guild, "fantasy dragons") for guild in guilds]
            for shard, record in enumerate(records):
                assert record.shard_id == shard == fake.shard_of(record.guild_id)
                [message] = await results_of(fake, record, 1)
                await fake.user_react(USER, message.channel_id, message.id, "👍")
            for record in records:  # each shard's process recorded the vote on its guild
                await eventually(lambda r=record: vote_value(db, r.messages[0].id), timeout=10.0)

            register_v1_champion(db, v1_model_dir)  # what `promptbot models promote` writes
            loop = asyncio.get_running_loop()
            promoted_at = loop.time()
            for guild in guilds:
                while True:
                    record = await ask_in(fake, guild, "haunted lighthouse")
                    await results_of(fake, record, 1)
                    if served_version(db, record) == "v1":
                        break
                    assert loop.time() - promoted_at < PROMOTION_DEADLINE, guild.name
                    await asyncio.sleep(0.5)

            guild = guilds[1]
            writing = fake.add_channel(guild.id, "writing")
            change_from_another_process(db, guild, writing.id)
            changed_at = loop.time()
            while True:  # the default channel now gets a private pointer to #writing
                record = await ask_in(fake, guild, "haunted lighthouse")
                [answer] = await record.wait_messages(1)
                if answer.ephemeral:
                    assert str(writing.id) in answer.content, answer.content
                    break
                assert loop.time() - changed_at < PROMOTION_DEADLINE, "settings never arrived"
                await asyncio.sleep(0.5)
            lamplighter = guild_prompt_key(str(guild.id), LAMPLIGHTER.id)
            while True:  # and the new prompt is found there
                record = await fake.invoke_command(
                    USER,
                    guild_id=guild.id,
                    channel_id=writing.id,
                    options={"keywords": LAMPLIGHTER_QUERY},
                    timeout=10.0,
                )
                await results_of(fake, record, 1)
                if served_prompt(db, record) == lamplighter:
                    break
                assert loop.time() - changed_at < PROMOTION_DEADLINE, "prompt never arrived"
                await asyncio.sleep(0.5)
            records = list(fake.interactions)
        finally:
            db.dispose()
            for process in processes:
                if process.returncode is None:
                    process.send_signal(signal.SIGTERM)
            outcomes = [await finished(process) for process in processes]
            for _code, _out, err in outcomes:
                print(err)  # shown when the test fails

    for code, _out, err in outcomes:
        assert code == 0, err
        assert "Traceback" not in err
    # answered exactly once each, by the process of the shard the interaction went to
    assert all(len(r.callbacks) == 1 and r.acknowledged for r in records), records
    assert all(r.shard_id == fake.shard_of(r.guild_id) for r in records)
    assert fake.errors == [] and fake.unhandled == []


@pytest.mark.slow
@pytest.mark.parametrize("shared_database_url", ["sqlite"], indirect=True)
async def test_without_shard_flags_one_process_runs_every_shard_discord_recommends(
    shared_database_url: str, model_cache_dir: Path, tmp_path: Path, no_leaks: None
) -> None:
    async with FakeDiscord(recommended_shards=SHARDS) as fake:
        guilds = guild_per_shard(fake)
        env = run_env(tmp_path, fake, shared_database_url, model_cache_dir)
        process = await start_run(env, "--no-scheduler")
        try:
            await fake.wait_for(
                lambda: all_connected(fake, [process]), timeout=60.0, what="every shard"
            )
            await fake.wait_for_commands("prompt", timeout=60.0)
            identified = {s.shard_id: s.identify["shard"] for s in fake.gateway.shards.values()}
            assert identified == {n: [n, SHARDS] for n in range(SHARDS)}
            for guild in guilds:
                record = await ask_in(fake, guild, "fantasy dragons")
                await results_of(fake, record, 1)
                assert record.shard_id == fake.shard_of(guild.id)
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            code, _out, err = await finished(process)
    assert code == 0 and "Traceback" not in err, err
    assert fake.find_requests("GET", r"/gateway/bot$")  # it asked Discord how many to run


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--shard-ids", "0"], "--shard-ids needs --shard-count"),
        (["--shard-count", "2", "--shard-ids", "2"], "between 0 and 1"),
        (["--shard-count", "2", "--shard-ids", "one"], "comma-separated numbers"),
    ],
)
async def test_bad_shard_flags_are_one_line_before_anything_starts(
    tmp_path: Path, args: list[str], says: str
) -> None:
    code, out, err = await finished(await start_run(clean_env(tmp_path), *args))
    assert code != 0 and out == ""
    [line] = err.strip().splitlines()
    assert says in line
