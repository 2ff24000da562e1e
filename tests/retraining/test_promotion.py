"""`promptbot train --promote`: the gate's rule without vote evidence, applied to stored
metrics, and the champion's metrics computed once and kept on its row."""

from __future__ import annotations

from pathlib import Path

import pytest

from retraining.promotion import champion_metrics, promote_if_better
from retrieval.eval_sets import Split
from retrieval.golden_set import GoldenMetrics, GoldenSet
from retrieval.model_registry import base_model_path
from storage.database import Database, utcnow
from storage.models import ModelStatus
from storage.repositories.model_versions import (
    get_champion,
    get_version,
    register_version,
    set_champion,
)
from storage.settings import Settings

NO_GOLDEN = GoldenSet([], [], Split(frozenset(), frozenset(), frozenset()))


def golden_dict(test: float, heldout: float) -> dict[str, dict[str, dict[str, float]]]:
    return {"test": {"all": {"NDCG@5": test}}, "heldout": {"all": {"NDCG@5": heldout}}}


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", database_url=db_url, gate_tolerance=0.01)


def register(db: Database, version_id: str, metrics: dict) -> None:  # type: ignore[type-arg]
    with db.session() as s:
        register_version(
            s,
            version_id,
            str(base_model_path()),  # real model files: promotion checks they exist
            ModelStatus.CANDIDATE,
            utcnow(),
            metrics=metrics,
        )


@pytest.fixture
def champion_db(db: Database) -> Database:
    register(db, "champ", golden_dict(0.60, 0.55))
    with db.session() as s:
        set_champion(s, "champ", "test", "init", utcnow())
    return db


@pytest.mark.parametrize(
    ("metrics", "promoted", "says"),
    [
        (golden_dict(0.62, 0.545), True, "promoted v2: test NDCG@5 0.620 vs 0.600 (champ)"),
        (golden_dict(0.60, 0.60), False, "no held-out votes and no golden gain"),
        (golden_dict(0.70, 0.50), False, "golden heldout NDCG@5 fell by 0.050"),
    ],
)
def test_a_candidate_is_promoted_only_if_the_gate_rule_passes(
    champion_db: Database, settings: Settings, metrics: dict, promoted: bool, says: str
) -> None:  # type: ignore[type-arg]
    register(champion_db, "v2", metrics)
    decision = promote_if_better(champion_db, settings, "v2", NO_GOLDEN, actor="test")
    assert decision.promoted is promoted
    assert decision.gate.passed is promoted
    assert says in decision.message
    with champion_db.session() as s:
        assert get_champion(s).id == ("v2" if promoted else "champ")


def test_stored_champion_metrics_are_read_not_recomputed(
    champion_db: Database, settings: Settings
) -> None:
    champion_id, metrics = champion_metrics(champion_db, settings, NO_GOLDEN)
    assert champion_id == "champ"
    assert metrics == GoldenMetrics.from_dict(golden_dict(0.60, 0.55))
    with champion_db.session() as s:
        assert get_version(s, "champ").metrics == golden_dict(0.60, 0.55)
