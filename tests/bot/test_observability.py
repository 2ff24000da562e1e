"""A real bot with PROMPTBOT_METRICS_PORT set: /healthz answers 200 once it is logged in with a
model loaded, and /metrics counts a /prompt, its result and the 👍 on it by model version."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from bot.observability import health_problems
from storage.database import Database
from tests.fakediscord import FakeDiscord, running_client
from tests.helpers.bot import USER, ask, make_settings, new_bot, results_of

pytestmark = pytest.mark.slow  # starts the bot on the embedded shipped corpus


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


def value(text: str, prefix: str) -> float:
    [line] = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(line.rsplit(" ", 1)[1])


async def test_metrics_and_health_of_a_running_bot(
    fake: FakeDiscord, bot_db: Database, tmp_path: Path, model_cache_dir: Path
) -> None:
    settings = make_settings(bot_db, tmp_path, model_cache_dir, metrics_port=0)
    client = new_bot(settings, bot_db)
    assert health_problems(client) == ["not logged in to Discord", "no model loaded"]
    async with running_client(client, fake) as bot:
        await fake.wait_for_commands("prompt")
        base = f"http://127.0.0.1:{bot.metrics_server.port}"
        assert await get(f"{base}/healthz") == (200, "ok\n")

        [message] = await results_of(fake, await ask(fake, "fantasy dragons"))
        await fake.user_react(USER, message.channel_id, message.id, "👍")

        text = ""
        for _ in range(100):  # the vote is recorded asynchronously
            text = (await get(f"{base}/metrics"))[1]
            if 'promptbot_result_votes_total{arm="none",model_version="base",value="up"}' in text:
                break
            await asyncio.sleep(0.05)
        assert value(text, 'promptbot_prompt_requests_total{outcome="served"}') == 1
        assert value(text, "promptbot_prompt_latency_seconds_count") == 1
        assert value(text, 'promptbot_results_shown_total{arm="none",model_version="base"}') == 1
        assert value(text, 'promptbot_votes_total{outcome="recorded",value="up"}') == 1
        assert (
            value(text, 'promptbot_result_votes_total{arm="none",model_version="base",value="up"}')
            == 1
        )
        assert 'promptbot_serving_model{backend="onnx' in text
        assert 'champion="base"' in text
        assert 'promptbot_gateway_latency_seconds{shard="0"}' in text
        assert value(text, "promptbot_scheduler_leader ") == 0
    assert bot.metrics_server is None  # closed with the bot
