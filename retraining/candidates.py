"""The one way a model version is made: train a candidate, evaluate it, register it.

`promptbot train`, `promptbot demo` and the retraining cycle all call :func:`make_candidate`;
they differ only in what they inject:

- the training runner: :func:`in_process_runner` for the CLI (progress bar, one process), a
  :class:`retraining.train_worker.SubprocessRunner` for the cycle (the serving process never
  trains, and a killed worker publishes nothing);
- the judge: none for `promptbot train` (the version is registered as a candidate and
  `--promote` applies :func:`retraining.gate.compare` afterwards), the offline gate for the
  cycle (a failing candidate is registered as rejected, with the reason).

Every version stores the same hyper-parameter keys (:func:`version_hyperparams`) and its
metrics in the same shape (:class:`CandidateMetrics`).

Crash safety: the model directory is published atomically before the version row is written,
so a crash leaves either nothing or an unregistered directory, which the next attempt removes.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from retraining.corpus_pairs import Pair
from retraining.gate import GateResult, VoteSliceMetrics
from retraining.stop_points import stop_point
from retraining.trainer import TrainConfig, TrainingExample, TrainingJob, TrainOutcome, run_job
from retrieval.corpus_view import CorpusPrompt
from retrieval.documents import TRAINING_FORMAT, document_text
from retrieval.golden_set import GoldenMetrics, GoldenSet, evaluate_model
from retrieval.int8_check import serving_backend
from retrieval.model_registry import ModelRef, base_model_path
from storage.database import Database, Session, utcnow
from storage.models import ModelStatus
from storage.repositories.datasets import save_dataset
from storage.repositories.model_versions import get_version, next_version_id, register_version
from storage.settings import Settings

log = logging.getLogger(__name__)

TrainingRunner = Callable[[TrainingJob], TrainOutcome]


@dataclass(frozen=True)
class Judgement:
    """What a judge says about a freshly trained candidate."""

    gate: GateResult
    vote_slice: VoteSliceMetrics


Judge = Callable[[ModelRef, GoldenMetrics], Judgement]
# Runs inside the transaction that registers a passing candidate (the cycle starts its
# experiment there), so a crash can never leave a registered candidate without one.
OnRegistered = Callable[["Session", "CandidateResult"], None]


@dataclass(frozen=True)
class TrainingSet:
    """What a candidate learns from: examples, and the recorded dataset they came from."""

    examples: Sequence[TrainingExample]
    dataset_id: int
    pair_counts: Mapping[str, Any]


@dataclass(frozen=True)
class CandidateMetrics:
    """A version's stored metrics: ``{"test", "heldout"[, "vote_slice", "gate"]}``."""

    golden: GoldenMetrics
    vote_slice: VoteSliceMetrics | None = None
    gate: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = self.golden.to_dict()
        if self.vote_slice is not None:
            out["vote_slice"] = self.vote_slice.to_dict()
        if self.gate is not None:
            out["gate"] = dict(self.gate)
        return out

    @classmethod
    def judged(cls, golden: GoldenMetrics, judgement: Judgement | None) -> CandidateMetrics:
        if judgement is None:
            return cls(golden)
        return cls(golden, judgement.vote_slice, judgement.gate.details)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CandidateMetrics:
        votes = data.get("vote_slice")
        return cls(
            GoldenMetrics.from_dict(data),
            VoteSliceMetrics.from_dict(votes) if votes is not None else None,
            data.get("gate"),
        )


@dataclass
class CandidateResult:
    version_id: str
    model: ModelRef
    status: ModelStatus  # CANDIDATE, or REJECTED by the judge
    outcome: TrainOutcome
    metrics: CandidateMetrics
    dataset_id: int
    gate: GateResult | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == ModelStatus.CANDIDATE


def in_process_runner(on_step: Callable[[int, int], None] | None = None) -> TrainingRunner:
    """Train in this process (`promptbot train`, the demo, the simulator, tests)."""
    return lambda job: run_job(job, on_step=on_step)


def to_examples(pairs: Sequence[Pair], prompts: Sequence[CorpusPrompt]) -> list[TrainingExample]:
    text = {p.id: document_text(p, TRAINING_FORMAT) for p in prompts}
    return [
        TrainingExample(
            pair.anchor,
            text[pair.positive_id],
            text[pair.negative_id] if pair.negative_id else None,
        )
        for pair in pairs
    ]


def record_dataset(
    db: Database,
    pairs: Sequence[Pair],
    now: datetime,
    vote_id_min: int | None = None,
    vote_id_max: int | None = None,
    rules: Mapping[str, Any] | None = None,
) -> tuple[int, dict[str, Any]]:
    """Save the pairs as a versioned dataset; returns its id and counts by source."""
    with db.session() as session:
        dataset = save_dataset(
            session,
            ((p.anchor, p.positive_id, p.negative_id, p.source) for p in pairs),
            now,
            vote_id_min,
            vote_id_max,
            rules=dict(rules or {}),
        )
        return dataset.id, dict(dataset.counts)


def corpus_training_set(
    db: Database, pairs: Sequence[Pair], prompts: Sequence[CorpusPrompt]
) -> TrainingSet:
    """Corpus pairs recorded as a dataset, each pair one example (`promptbot train`, demo)."""
    dataset_id, counts = record_dataset(db, pairs, utcnow())
    return TrainingSet(to_examples(pairs, prompts), dataset_id, counts)


def reserve_version_dir(db: Database, settings: Settings) -> tuple[str, Path]:
    with db.session() as session:
        version_id = next_version_id(session)
    out_dir = settings.models_dir / version_id
    if out_dir.exists():  # left by a run that died before registering: never served
        log.warning("removing unregistered model directory %s", out_dir)
        shutil.rmtree(out_dir)
    return version_id, out_dir


def make_candidate(
    db: Database,
    settings: Settings,
    training: TrainingSet,
    start: ModelRef,
    golden: GoldenSet,
    config: TrainConfig,
    label: str,
    runner: TrainingRunner | None = None,
    judge: Judge | None = None,
    clock: Callable[[], datetime] = utcnow,
    progress: Callable[[str], None] = lambda _msg: None,
    on_registered: OnRegistered | None = None,
) -> CandidateResult:
    """Train ``start`` on ``training``, evaluate on ``golden``, judge, register the version;
    ``on_registered`` runs in the registering transaction when the candidate passed."""
    timings: dict[str, float] = {}
    version_id, out_dir = reserve_version_dir(db, settings)
    job = TrainingJob(
        start.path, base_model_path(), training.examples, config, out_dir, f"promptbot {version_id}"
    )
    progress(f"training {version_id} on {len(training.examples)} examples")
    with _timed(timings, "train"):
        outcome = (runner or in_process_runner())(job)
    candidate = ModelRef(version_id, out_dir)
    progress("evaluating the candidate")
    with _timed(timings, "evaluate"):
        golden_metrics = evaluate_model(candidate, golden, settings.cache_dir)
        judgement = judge(candidate, golden_metrics) if judge else None
    result = CandidateResult(
        version_id,
        candidate,
        _status(judgement),
        outcome,
        CandidateMetrics.judged(golden_metrics, judgement),
        training.dataset_id,
        judgement.gate if judgement else None,
        timings,
    )
    if result.passed:  # measured here, so a bot serving this version only reads it
        with _timed(timings, "int8_check"):
            serving_backend(candidate, settings.cache_dir, settings.backend, settings.int8)
    hyperparams = version_hyperparams(config, start, training, outcome)
    stop_point("saved")
    register_candidate(db, result, label, hyperparams, clock(), on_registered)
    return result


def version_hyperparams(
    config: TrainConfig, start: ModelRef, training: TrainingSet, outcome: TrainOutcome
) -> dict[str, Any]:
    """The hyper-parameters stored on every version, whoever trained it."""
    return {
        **config.to_dict(),
        "start_version": start.version_id,
        "pairs": dict(training.pair_counts),
        "train_seconds": round(outcome.seconds, 1),
        "steps": outcome.steps,
        "pairs_per_second": round(outcome.pairs_per_second, 1),
        "final_loss": outcome.final_loss,
    }


def register_candidate(
    db: Database,
    result: CandidateResult,
    label: str,
    hyperparams: dict[str, Any],
    now: datetime,
    on_registered: OnRegistered | None = None,
) -> None:
    """Write the version row: the last step, once its model directory is in place."""
    with db.session() as session:
        if get_version(session, result.version_id) is not None:
            raise RuntimeError(f"version {result.version_id} was registered by another process")
        register_version(
            session,
            result.version_id,
            str(result.model.path),
            result.status,
            now,
            label=label,
            parent_id=hyperparams["start_version"],
            hyperparams=hyperparams,
            metrics=result.metrics.to_dict(),
            dataset_id=result.dataset_id,
            status_reason=_status_reason(result.gate),
        )
        if on_registered is not None and result.passed:
            on_registered(session, result)


def _status(judgement: Judgement | None) -> ModelStatus:
    if judgement is not None and not judgement.gate.passed:
        return ModelStatus.REJECTED
    return ModelStatus.CANDIDATE


def _status_reason(gate: GateResult | None) -> str:
    if gate is None:
        return ""
    return ("passed gate: " if gate.passed else "gate: ") + gate.reason


@contextmanager
def _timed(timings: dict[str, float], key: str) -> Iterator[None]:
    """Record the seconds the ``with`` block took under ``timings[key]``."""
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[key] = time.perf_counter() - started
