"""The bot's side of metrics and health: what it feeds ``serving.metrics``, and when it is
healthy.

``serving.metrics`` knows metric names and ``serving.health`` the HTTP endpoint; this module
knows the bot: where its champion, gateway latencies and readiness live, and how a vote's
result message leads back to the model version and arm that ranked it. The endpoint only runs
when ``PROMPTBOT_METRICS_PORT`` is set.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from serving.health import MetricsServer
from serving.metrics import CycleTotal, LiveState, ServingMetrics
from storage.database import Database
from storage.repositories.requests import result_for_message
from storage.repositories.training_runs import finished_run_totals

if TYPE_CHECKING:
    from bot.client import PromptBot

log = logging.getLogger(__name__)


def live_state(bot: PromptBot) -> LiveState:
    """The champion, serving precision, gateway latencies and recorded cycles, right now."""
    state = bot.pool.state
    with bot.db.session() as session:
        totals = finished_run_totals(session)
    return LiveState(
        champion=state.champion_id if state else None,
        serving=state.serving_id if state else None,
        backend=state.backend if state else None,
        gateway_latencies=gateway_latencies(bot),
        cycles=[CycleTotal(outcome, n, seconds) for outcome, (n, seconds) in totals.items()],
    )


def gateway_latencies(bot: PromptBot) -> list[tuple[int, float]]:
    """(shard id, heartbeat latency) per shard; a bot without sharding is shard 0."""
    latencies = getattr(bot, "latencies", None)  # AutoShardedBot
    if latencies is not None:
        return [(int(shard), float(seconds)) for shard, seconds in latencies]
    return [(bot.shard_id or 0, float(bot.latency))]


def health_problems(bot: PromptBot) -> list[str]:
    """Why the bot cannot answer `/prompt` yet; empty when it can."""
    problems = []
    if not bot.is_ready() or bot.is_closed():
        problems.append("not logged in to Discord")
    state = bot.pool.state
    if state is None:
        problems.append("no model loaded")
    return problems


def vote_origin(db: Database, message_id: str) -> tuple[str, str | None] | None:
    """The model version and arm of the result a message shows, or None if it is not one."""
    with db.session() as session:
        result = result_for_message(session, message_id)
        return None if result is None else (result.model_version_id, result.arm)


async def start_metrics_server(bot: PromptBot, metrics: ServingMetrics) -> MetricsServer | None:
    """Serve /metrics and /healthz when ``PROMPTBOT_METRICS_PORT`` is set; else None."""
    port = bot.settings.metrics_port
    if port is None:
        return None
    metrics.watch(lambda: live_state(bot))
    server = await MetricsServer(metrics, lambda: health_problems(bot), port).start()
    log.info("metrics on :%d/metrics, health on :%d/healthz", server.port, server.port)
    return server
