"""`promptbot train --promote`: make a fresh candidate champion if it beats the champion.

Judged by the same rule as the retraining cycle's gate (:func:`retraining.gate.compare`,
same tolerance). A corpus-trained candidate has no held-out votes, so the rule reduces to:
better than the champion on the golden test split (NDCG@5), without losing more than the
tolerance on held-out prompts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from retraining.gate import GateResult, compare
from retraining.model_admin import promote
from retrieval.golden_set import GoldenMetrics, GoldenSet, evaluate_model
from retrieval.model_registry import ModelRef
from storage.database import Database
from storage.repositories.model_versions import get_champion, get_version
from storage.settings import Settings


@dataclass(frozen=True)
class PromotionDecision:
    promoted: bool
    message: str
    gate: GateResult


def champion_metrics(
    db: Database, settings: Settings, golden: GoldenSet
) -> tuple[str, GoldenMetrics]:
    """The champion's golden metrics, computed once and stored on its version row."""
    with db.session() as session:
        champion = get_champion(session)
        assert champion is not None, "no champion registered"
        champion_id, path = champion.id, champion.artifact_path
        stored = dict(champion.metrics)
    if "test" in stored:
        return champion_id, GoldenMetrics.from_dict(stored)
    metrics = evaluate_model(ModelRef(champion_id, Path(path)), golden, settings.cache_dir)
    with db.session() as session:
        row = get_version(session, champion_id)
        assert row is not None
        row.metrics = {**stored, **metrics.to_dict()}
    return champion_id, metrics


def promote_if_better(
    db: Database, settings: Settings, version_id: str, golden: GoldenSet, actor: str
) -> PromotionDecision:
    champion_id, champion = champion_metrics(db, settings, golden)
    with db.session() as session:
        version = get_version(session, version_id)
        assert version is not None
        candidate = GoldenMetrics.from_dict(version.metrics)
    result = compare(champion, candidate, settings.gate_tolerance)
    summary = (
        f"test NDCG@5 {_shown(candidate.test.ndcg5)} vs {_shown(champion.test.ndcg5)} "
        f"({champion_id}); held-out {_shown(candidate.held_out.ndcg5)} vs "
        f"{_shown(champion.held_out.ndcg5)}"
    )
    if result.passed:
        promote(db, version_id, actor=actor)
        return PromotionDecision(True, f"promoted {version_id}: {summary}", result)
    return PromotionDecision(False, f"kept {champion_id}: {summary} — {result.reason}", result)


def _shown(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"
