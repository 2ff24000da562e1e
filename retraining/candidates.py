"""Train a candidate from training pairs, evaluate it on the golden set, register it.

Shared by `promptbot train` and the scheduled retraining cycle. The model directory is
published atomically before the version row is written, so a crash leaves either nothing or
an unregistered directory, which the next attempt removes.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retraining.corpus_pairs import Pair
from retraining.trainer import TrainConfig, TrainingExample, TrainOutcome, train_candidate
from retrieval.corpus_view import CorpusPrompt
from retrieval.documents import document_text
from retrieval.golden_set import GoldenSet, evaluate_model
from retrieval.int8_check import serving_backend
from retrieval.model_registry import ModelRef, base_model_path, resolve_model
from storage.database import Database, utcnow
from storage.models import ModelStatus
from storage.repositories.datasets import save_dataset
from storage.repositories.model_versions import get_version, next_version_id, register_version
from storage.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class CandidateResult:
    version_id: str
    model: ModelRef
    outcome: TrainOutcome
    metrics: dict[str, Any]
    dataset_id: int


def to_examples(pairs: Sequence[Pair], prompts: Sequence[CorpusPrompt]) -> list[TrainingExample]:
    text = {p.id: document_text(p) for p in prompts}
    return [
        TrainingExample(
            pair.anchor,
            text[pair.positive_id],
            text[pair.negative_id] if pair.negative_id else None,
        )
        for pair in pairs
    ]


def reserve_version_dir(db: Database, settings: Settings) -> tuple[str, Path]:
    with db.session() as session:
        version_id = next_version_id(session)
    out_dir = settings.models_dir / version_id
    if out_dir.exists():  # left by a run that died before registering: never served
        log.warning("removing unregistered model directory %s", out_dir)
        shutil.rmtree(out_dir)
    return version_id, out_dir


def train_and_register(
    db: Database,
    settings: Settings,
    pairs: Sequence[Pair],
    prompts: Sequence[CorpusPrompt],
    golden: GoldenSet,
    config: TrainConfig,
    start_ref: str = "base",
    dataset_info: dict[str, Any] | None = None,
    on_step: Callable[[int, int], None] | None = None,
    label: str = "",
) -> CandidateResult:
    start = resolve_model(start_ref, db)
    info = dataset_info or {}
    with db.session() as session:
        dataset = save_dataset(
            session,
            ((p.anchor, p.positive_id, p.negative_id, p.source) for p in pairs),
            utcnow(),
            vote_id_min=info.get("vote_id_min"),
            vote_id_max=info.get("vote_id_max"),
            rules=info.get("rules", {}),
        )
        dataset_id, counts = dataset.id, dict(dataset.counts)
    version_id, out_dir = reserve_version_dir(db, settings)
    outcome = train_candidate(
        start.path,
        base_model_path(),
        to_examples(pairs, prompts),
        config,
        out_dir,
        card_details={"name": f"promptbot {version_id}"},
        on_step=on_step,
    )
    candidate = ModelRef(version_id, out_dir)
    metrics = evaluate_model(candidate, golden, settings.cache_dir)
    # measured here, in the training process, so a bot serving this version only reads it
    serving_backend(candidate, settings.cache_dir, settings.backend, settings.int8)
    hyperparams = {
        **config.to_dict(),
        "start_version": start.version_id,
        "pairs": counts,
        "train_seconds": round(outcome.seconds, 1),
        "steps": outcome.steps,
        "pairs_per_second": round(outcome.pairs_per_second, 1),
        "final_loss": outcome.final_loss,
    }
    with db.session() as session:
        if get_version(session, version_id) is not None:
            raise RuntimeError(f"version {version_id} was registered by another process")
        register_version(
            session,
            version_id,
            str(out_dir),
            ModelStatus.CANDIDATE,
            utcnow(),
            label=label or f"fine-tuned from {start.label}",
            parent_id=start.version_id,
            hyperparams=hyperparams,
            metrics=metrics,
            dataset_id=dataset_id,
        )
    return CandidateResult(version_id, candidate, outcome, metrics, dataset_id)
