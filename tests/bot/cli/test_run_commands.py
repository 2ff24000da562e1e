"""`promptbot run` as a real process pointed at a FakeDiscord through the two URL settings,
and its one-line failures: no token, a rejected token, an un-migrated database."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from pathlib import Path

import pytest

from storage.database import Database
from storage.repositories.votes import current_vote
from tests.fakediscord import FakeDiscord
from tests.helpers.bot import USER, ask, eventually, results_of

TOKEN = "MTIz.fake-token.for-tests-only"


def promptbot_command() -> list[str]:
    script = Path(sys.executable).with_name("promptbot")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from bot.cli import app; app()"]


def clean_env(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PROMPTBOT_") and k != "DISCORD_TOKEN"
    }
    env.update(
        PROMPTBOT_HOME=str(tmp_path / "home"),
        HF_HUB_OFFLINE="1",
        COLUMNS="200",
        PYTHONUNBUFFERED="1",
        **values,
    )
    return env


def fake_env(
    tmp_path: Path, fake: FakeDiscord, database: Path, cache: Path, token: str
) -> dict[str, str]:
    return clean_env(
        tmp_path,
        DISCORD_TOKEN=token,
        PROMPTBOT_DATABASE_URL=f"sqlite:///{database}",
        PROMPTBOT_CACHE_HOME=str(cache),
        PROMPTBOT_DISCORD_API_URL=fake.api_url,
        PROMPTBOT_DISCORD_GATEWAY_URL=fake.gateway_url,
        PROMPTBOT_CHAMPION_POLL_SECONDS="1",
    )


async def start_run(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *promptbot_command(),
        "run",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finished(
    process: asyncio.subprocess.Process, timeout: float = 30.0
) -> tuple[int, str, str]:
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def vote_value(db: Database, message_id: int) -> int | None:
    with db.session() as session:
        vote = current_vote(session, str(message_id), str(USER))
        return None if vote is None else vote.value


def copy_template(corpus_template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "bot.db"
    shutil.copy(corpus_template, target)
    return target


@pytest.mark.slow
async def test_run_logs_in_syncs_answers_and_stops_cleanly(
    fake: FakeDiscord, corpus_template: Path, model_cache_dir: Path, tmp_path: Path
) -> None:
    database = copy_template(corpus_template, tmp_path)
    process = await start_run(fake_env(tmp_path, fake, database, model_cache_dir, TOKEN))
    try:
        await fake.wait_for_commands("prompt", "model", timeout=60.0)
        await fake.wait_until_ready(timeout=10.0)
        record = await ask(fake, "fantasy dragons", count=2)
        assert record.latency is not None and record.latency < 3.0
        messages = await results_of(fake, record, 2)
        assert "dragon" in str(messages[0].embeds[0]).lower()
        await fake.user_react(USER, messages[0].channel_id, messages[0].id, "👍")
        db = Database(f"sqlite:///{database}")
        try:
            await eventually(lambda: vote_value(db, messages[0].id), timeout=10.0)
        finally:
            db.dispose()
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        code, out, err = await finished(process)
    assert code == 0, err
    assert TOKEN not in out + err
    # /prompt, /model, /settings, /privacy, /prompts, /daily
    assert "serving model base" in err and "synced 6 command(s) globally" in err
    assert "retraining schedule" in err
    assert "Traceback" not in err
    assert fake.requests[0].path == "/users/@me"


async def test_missing_token_is_one_line_and_fails(tmp_path: Path) -> None:
    code, out, err = await finished(await start_run(clean_env(tmp_path)))
    assert code != 0 and out == ""
    [line] = err.strip().splitlines()
    assert "DISCORD_TOKEN is not set" in line


@pytest.mark.slow
async def test_rejected_token_is_one_line_without_the_token(
    corpus_template: Path, model_cache_dir: Path, tmp_path: Path, no_leaks: None
) -> None:
    async with FakeDiscord(token="the-right-token") as fake:
        fake.add_guild()
        database = copy_template(corpus_template, tmp_path)
        env = fake_env(tmp_path, fake, database, model_cache_dir, "a-wrong-token-123")
        code, out, err = await finished(await start_run(env, "--no-scheduler"))
    assert code != 0
    assert len(err.strip().splitlines()) == 1, err
    assert "rejected the token" in err
    assert "a-wrong-token-123" not in out + err
    assert [(r.method, r.path, r.status) for r in fake.requests] == [("GET", "/users/@me", 401)]


async def test_unmigrated_database_is_refused(tmp_path: Path) -> None:
    database = tmp_path / "empty.db"
    database.touch()  # the database exists; its schema does not
    env = clean_env(tmp_path, DISCORD_TOKEN=TOKEN, PROMPTBOT_DATABASE_URL=f"sqlite:///{database}")
    code, out, err = await finished(await start_run(env))
    assert code != 0
    [line] = err.strip().splitlines()
    assert "promptbot db upgrade" in line and TOKEN not in out + err
