"""Offline promotion rule for `promptbot train --promote`: better than the champion on the
golden test split (NDCG@5), without losing ground on held-out prompts."""

from __future__ import annotations

from dataclasses import dataclass

from retraining.model_admin import promote
from retrieval.golden_set import GoldenSet, evaluate_model, ndcg5
from retrieval.model_registry import ModelRef
from storage.database import Database
from storage.repositories.model_versions import get_champion, get_version
from storage.settings import Settings


@dataclass
class PromotionDecision:
    promoted: bool
    message: str


def champion_metrics(db: Database, settings: Settings, golden: GoldenSet) -> tuple[str, dict]:
    """The champion's golden metrics, computed once and stored on its version row."""
    with db.session() as session:
        champion = get_champion(session)
        assert champion is not None, "no champion registered"
        champion_id, path, metrics = champion.id, champion.artifact_path, dict(champion.metrics)
    if "test" not in metrics:
        from pathlib import Path

        metrics = evaluate_model(ModelRef(champion_id, Path(path)), golden, settings.cache_dir)
        with db.session() as session:
            row = get_version(session, champion_id)
            assert row is not None
            row.metrics = metrics
    return champion_id, metrics


def promote_if_better(
    db: Database, settings: Settings, version_id: str, golden: GoldenSet, actor: str
) -> PromotionDecision:
    champion_id, champion = champion_metrics(db, settings, golden)
    with db.session() as session:
        version = get_version(session, version_id)
        assert version is not None
        candidate = dict(version.metrics)
    gain = ndcg5(candidate) - ndcg5(champion)
    heldout_gain = ndcg5(candidate, "heldout") - ndcg5(champion, "heldout")
    summary = (
        f"test NDCG@5 {ndcg5(candidate):.3f} vs {ndcg5(champion):.3f} ({champion_id}); "
        f"held-out {ndcg5(candidate, 'heldout'):.3f} vs {ndcg5(champion, 'heldout'):.3f}"
    )
    if gain > 0 and heldout_gain >= -settings.gate_tolerance:
        promote(db, version_id, actor=actor)
        return PromotionDecision(True, f"promoted {version_id}: {summary}")
    return PromotionDecision(False, f"kept {champion_id}: {summary}")
