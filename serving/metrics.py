"""Prometheus metrics for one serving process: what `/prompt` and the votes are doing.

Each process builds its own :class:`ServingMetrics` with its own registry (never
prometheus_client's global one), so tests and several bots in one process never share counts.

Two kinds of numbers live here:

- **Events**, counted as they happen by the bot: `/prompt` latency and outcome, votes by value,
  results shown and votes cast by model version and experiment arm (the inputs of a 👍 rate:
  ``up votes / results shown`` per version and arm), and whether this process runs the
  scheduler. Labels are bounded sets (outcomes, arms, model versions); there is never a
  per-user, per-guild or per-query label, both for privacy and to keep the series count fixed.
- **State**, read when Prometheus scrapes (:class:`LiveState`, from a callable the bot hands
  over): the champion and the precision serving it, the gateway latency of each shard, and the
  retraining cycles recorded in the database by outcome with their total duration. Reading
  state at scrape time keeps it true without anyone remembering to update a gauge, and the
  cycle counts come from the database because cycles may run in another process (a worker).
  A callable that fails leaves its metrics out of that scrape rather than failing the scrape.

Nothing here imports discord.py, torch or SQL: the bot records, storage answers queries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

# /prompt answers in well under a second when warm; a cold model or a slow database shows up
# in the upper buckets, past Discord's 3 s deadline for a first response.
PROMPT_LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0)
# Every way a /prompt ends; the counter is pre-set to 0 for each, so rates exist from the start.
# "expired": Discord's window for a first response had closed before the bot could answer.
PROMPT_OUTCOMES = (
    "served",
    "no_results",
    "bad_input",
    "no_corpus",
    "building",  # the first engine is still being built: the user is told how far it got
    "unavailable",
    "expired",
)
VOTE_VALUES = {1: "up", -1: "down"}
NO_ARM = "none"  # results served outside any experiment
# ServingState.backend -> the numeric precision it computes in
PRECISION_OF_BACKEND = {"onnx": "fp32", "onnx-int8": "int8", "torch": "fp32"}


@dataclass(frozen=True)
class CycleTotal:
    """Finished retraining cycles with one outcome: how many, and their summed duration."""

    outcome: str
    count: int
    seconds: float


@dataclass(frozen=True)
class LiveState:
    """What the process is doing right now, read at each scrape."""

    champion: str | None = None  # the database's champion
    serving: str | None = None  # the version actually answering (differs after a failed load)
    backend: str | None = None  # onnx, onnx-int8 or torch
    gateway_latencies: Sequence[tuple[int, float]] = ()  # (shard id, seconds)
    cycles: Sequence[CycleTotal] = field(default_factory=tuple)


class _LiveStateCollector(Collector):
    """Turns :class:`LiveState` into metric families at scrape time."""

    def __init__(self, read_state: Callable[[], LiveState]) -> None:
        self.read_state = read_state

    def collect(self) -> Iterator[Metric]:
        try:
            state = self.read_state()
        except Exception:  # a scrape must answer even when the database does not
            log.warning("reading the serving state for /metrics failed", exc_info=True)
            return
        yield from _serving_families(state)
        yield _gateway_family(state.gateway_latencies)
        yield _cycle_family(state.cycles)


def _serving_families(state: LiveState) -> Iterator[Metric]:
    info = GaugeMetricFamily(
        "promptbot_serving_model",
        "1 for the model answering /prompt, with the champion and the precision it runs in",
        labels=["champion", "serving", "backend", "precision"],
    )
    loaded = GaugeMetricFamily(
        "promptbot_model_loaded", "1 once a model is loaded and answering /prompt"
    )
    if state.serving is not None:
        backend = state.backend or "unknown"
        precision = PRECISION_OF_BACKEND.get(backend, "unknown")
        info.add_metric([state.champion or "", state.serving, backend, precision], 1.0)
    loaded.add_metric([], 1.0 if state.serving is not None else 0.0)
    yield info
    yield loaded


def _gateway_family(latencies: Iterable[tuple[int, float]]) -> Metric:
    family = GaugeMetricFamily(
        "promptbot_gateway_latency_seconds",
        "Time between a gateway heartbeat and its acknowledgement, per shard",
        labels=["shard"],
    )
    for shard, seconds in latencies:
        if seconds == seconds and seconds != float("inf"):  # NaN/inf before the first beat
            family.add_metric([str(shard)], seconds)
    return family


def _cycle_family(cycles: Iterable[CycleTotal]) -> Metric:
    family = SummaryMetricFamily(
        "promptbot_retraining_cycle_duration_seconds",
        "Finished retraining cycles recorded in the database, by outcome "
        "(_count: cycles, _sum: seconds they took)",
        labels=["outcome"],
    )
    for cycle in cycles:
        family.add_metric([cycle.outcome], count_value=cycle.count, sum_value=cycle.seconds)
    return family


class ServingMetrics:
    """The metrics of one bot process; the bot calls the ``observe_*`` methods."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.prompt_latency = Histogram(
            "promptbot_prompt_latency_seconds",
            "Time from receiving /prompt to its answer being sent",
            buckets=PROMPT_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.prompt_outcomes = Counter(
            "promptbot_prompt_requests",
            "/prompt invocations by how they ended",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in PROMPT_OUTCOMES:
            self.prompt_outcomes.labels(outcome)
        self.votes = Counter(
            "promptbot_votes",
            "👍/👎 reactions on result messages, by value and what they did to the stored vote",
            ["value", "outcome"],
            registry=self.registry,
        )
        self.results_shown = Counter(
            "promptbot_results_shown",
            "Result messages sent, by the model version that ranked them and experiment arm",
            ["model_version", "arm"],
            registry=self.registry,
        )
        self.result_votes = Counter(
            "promptbot_result_votes",
            "Votes cast or changed on results, by model version, experiment arm and value",
            ["model_version", "arm", "value"],
            registry=self.registry,
        )
        self.scheduler_leader = Gauge(
            "promptbot_scheduler_leader",
            "1 while this process runs the retraining scheduler",
            registry=self.registry,
        )

    def watch(self, read_state: Callable[[], LiveState]) -> None:
        """Report ``read_state()`` at every scrape (call once per process)."""
        self.registry.register(_LiveStateCollector(read_state))

    def observe_prompt(self, outcome: str, seconds: float) -> None:
        self.prompt_outcomes.labels(outcome).inc()
        self.prompt_latency.observe(seconds)

    def observe_results(self, shown: Iterable[tuple[str, str | None]]) -> None:
        """One result message sent per ``(model version, arm)``."""
        for model_version, arm in shown:
            self.results_shown.labels(model_version, arm or NO_ARM).inc()

    def observe_vote(
        self,
        value: int,
        outcome: str,
        model_version: str | None = None,
        arm: str | None = None,
    ) -> None:
        """A reaction the vote store handled; with the result's version, a cast also counts
        towards that version's (and arm's) 👍 rate."""
        label = VOTE_VALUES.get(value, "other")
        self.votes.labels(label, outcome).inc()
        if model_version is not None:
            self.result_votes.labels(model_version, arm or NO_ARM, label).inc()

    def set_scheduler_leader(self, leading: bool) -> None:
        self.scheduler_leader.set(1.0 if leading else 0.0)

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes (reads live state: call off the event loop)."""
        return generate_latest(self.registry)
