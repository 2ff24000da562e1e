"""/metrics and /healthz of a serving process: the metric names Prometheus and the shipped
Grafana dashboard rely on, live state read at scrape time, and health flipping to 200."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from serving.health import MetricsServer
from serving.metrics import CycleTotal, LiveState, ServingMetrics

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json"


class Readiness:
    """What the bot would report: problems until marked ready."""

    def __init__(self) -> None:
        self.problems = ["not logged in to Discord", "no model loaded"]

    def mark_ready(self) -> None:
        self.problems = []


@pytest.fixture
def metrics() -> ServingMetrics:
    metrics = ServingMetrics()
    metrics.watch(
        lambda: LiveState(
            champion="v3",
            serving="v3",
            backend="onnx-int8",
            gateway_latencies=[(0, 0.042), (1, float("nan"))],
            cycles=[CycleTotal("succeeded", 2, 300.0), CycleTotal("skipped", 5, 1.5)],
        )
    )
    return metrics


@pytest.fixture
def readiness() -> Readiness:
    return Readiness()


@pytest_asyncio.fixture
async def server(metrics: ServingMetrics, readiness: Readiness) -> AsyncIterator[str]:
    running = await MetricsServer(metrics, lambda: readiness.problems, 0, "127.0.0.1").start()
    try:
        yield f"http://127.0.0.1:{running.port}"
    finally:
        await running.stop()


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


def sample(text: str, prefix: str) -> float:
    """The value of the one sample line starting with ``prefix``."""
    [line] = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(line.rsplit(" ", 1)[1])


async def test_metrics_names_and_values(server: str, metrics: ServingMetrics) -> None:
    metrics.observe_prompt("served", 0.12)
    metrics.observe_prompt("bad_input", 0.001)
    metrics.observe_results([("v3", None), ("v4", "candidate")])
    metrics.observe_vote(1, "recorded", "v4", "candidate")
    metrics.observe_vote(-1, "removed")
    metrics.set_scheduler_leader(True)

    status, text = await get(f"{server}/metrics")

    assert status == 200
    assert sample(text, "promptbot_prompt_latency_seconds_count") == 2
    assert sample(text, 'promptbot_prompt_requests_total{outcome="served"}') == 1
    assert sample(text, 'promptbot_prompt_requests_total{outcome="no_corpus"}') == 0
    assert sample(text, 'promptbot_votes_total{outcome="recorded",value="up"}') == 1
    assert sample(text, 'promptbot_votes_total{outcome="removed",value="down"}') == 1
    assert sample(text, 'promptbot_results_shown_total{arm="none",model_version="v3"}') == 1
    assert (
        sample(text, 'promptbot_result_votes_total{arm="candidate",model_version="v4",value="up"}')
        == 1
    )
    assert sample(text, "promptbot_scheduler_leader ") == 1
    assert (
        sample(
            text,
            'promptbot_serving_model{backend="onnx-int8",champion="v3",precision="int8",'
            'serving="v3"}',
        )
        == 1
    )
    assert sample(text, "promptbot_model_loaded ") == 1
    assert sample(text, 'promptbot_gateway_latency_seconds{shard="0"}') == 0.042
    assert 'shard="1"' not in text  # no heartbeat yet: no sample rather than NaN
    assert sample(text, 'promptbot_retraining_cycle_duration_seconds_count{outcome="skipped"}') == 5
    assert (
        sample(text, 'promptbot_retraining_cycle_duration_seconds_sum{outcome="succeeded"}') == 300
    )


async def test_healthz_is_503_until_ready(server: str, readiness: Readiness) -> None:
    status, text = await get(f"{server}/healthz")
    assert status == 503
    assert "no model loaded" in text

    readiness.mark_ready()

    assert await get(f"{server}/healthz") == (200, "ok\n")


def test_a_failing_state_reader_leaves_the_rest_of_the_scrape() -> None:
    metrics = ServingMetrics()

    def broken() -> LiveState:
        raise RuntimeError("database down")

    metrics.watch(broken)
    metrics.observe_prompt("served", 0.2)

    text = metrics.exposition().decode()

    assert 'promptbot_prompt_requests_total{outcome="served"} 1.0' in text
    assert "promptbot_serving_model" not in text


def test_registries_are_per_instance() -> None:
    first, second = ServingMetrics(), ServingMetrics()
    first.observe_prompt("served", 0.1)
    assert b'outcome="served"} 0.0' in second.exposition()


def test_the_grafana_dashboard_queries_metrics_that_exist() -> None:
    names = {
        "promptbot_prompt_latency_seconds_bucket",
        "promptbot_prompt_requests_total",
        "promptbot_votes_total",
        "promptbot_results_shown_total",
        "promptbot_result_votes_total",
        "promptbot_serving_model",
        "promptbot_model_loaded",
        "promptbot_gateway_latency_seconds",
        "promptbot_retraining_cycle_duration_seconds_count",
        "promptbot_retraining_cycle_duration_seconds_sum",
        "promptbot_scheduler_leader",
    }
    dashboard = json.loads(DASHBOARD.read_text())
    queried = {
        word
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        for word in _words(target["expr"])
        if word.startswith("promptbot_")
    }
    assert queried
    assert queried <= names, queried - names


def _words(expr: str) -> list[str]:
    import re

    return re.findall(r"[a-z_][a-z0-9_]*", expr)
