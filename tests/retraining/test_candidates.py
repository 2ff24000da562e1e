"""The one way a version is made: the same steps, hyper-parameter keys and metric shapes
whether training runs in this process or in a worker process, judged or not."""

from __future__ import annotations

import math
from dataclasses import fields

import pytest

from retraining.candidates import (
    CandidateMetrics,
    Judgement,
    TrainingRunner,
    corpus_training_set,
    in_process_runner,
    make_candidate,
)
from retraining.corpus_training import corpus_pairs_for
from retraining.gate import VoteSliceMetrics, compare
from retraining.train_worker import SubprocessRunner
from retraining.trainer import TrainConfig
from retrieval.corpus_view import load_corpus_from_db
from retrieval.golden_set import GoldenMetrics, GoldenSet, RetrievalMetrics
from retrieval.model_registry import ModelRef, resolve_model
from storage.database import Database
from storage.models import ModelStatus
from storage.repositories.model_versions import get_version
from storage.settings import Settings
from tests.helpers.retraining import TINY_TRAINING

VERSION_HYPERPARAMS = {f.name for f in fields(TrainConfig)} | {
    "start_version",
    "pairs",
    "train_seconds",
    "steps",
    "pairs_per_second",
    "final_loss",
}
STORED = {
    "test": {
        "all": {
            "P@1": 0.5,
            "P@3": 0.4,
            "P@5": 0.3,
            "MRR@10": 0.6,
            "NDCG@5": 0.55,
            "NDCG@10": 0.58,
            "Recall@10": 0.7,
            "n": 12.0,
        },
        "genre_topic": {
            "P@1": 1.0,
            "P@3": 0.6,
            "P@5": 0.4,
            "MRR@10": 1.0,
            "NDCG@5": 0.9,
            "NDCG@10": 0.9,
            "Recall@10": 0.8,
            "n": 3.0,
        },
    },
    "heldout": {},
    "vote_slice": {"n": 40.0, "agreement": 0.7, "NDCG@5": 0.6},
    "gate": {"golden_test": [0.5, 0.55], "tolerance": 0.01},
}


def test_stored_metrics_read_typed_and_write_back_unchanged() -> None:
    metrics = CandidateMetrics.from_dict(STORED)
    assert metrics.golden.test.overall == RetrievalMetrics(0.5, 0.4, 0.3, 0.6, 0.55, 0.58, 0.7, 12)
    assert metrics.golden.test.slices["genre_topic"].p1 == 1.0
    assert metrics.golden.held_out.overall is None
    assert metrics.vote_slice == VoteSliceMetrics(40, 0.7, 0.6)
    assert metrics.to_dict() == STORED


def test_a_metric_missing_from_an_old_row_reads_as_not_measured() -> None:
    partial = GoldenMetrics.from_dict({"test": {"all": {"NDCG@5": 0.5}}})
    assert partial.test.ndcg5 == 0.5 and math.isnan(partial.test.overall.p1)
    assert not GoldenMetrics.from_dict({}).measured


@pytest.mark.parametrize("where", ["in process", "worker process"])
@pytest.mark.slow
def test_every_runner_registers_the_same_kind_of_version(
    loop_db: Database, loop_settings: Settings, golden: GoldenSet, where: str
) -> None:
    runner: TrainingRunner = (
        in_process_runner() if where == "in process" else SubprocessRunner(threads=1)
    )
    prompts = load_corpus_from_db(loop_db)
    pairs = corpus_pairs_for(TINY_TRAINING, prompts, golden, loop_settings.cache_dir)
    result = make_candidate(
        loop_db,
        loop_settings,
        corpus_training_set(loop_db, pairs, prompts),
        resolve_model("base", loop_db),
        golden,
        TINY_TRAINING,
        label="test",
        runner=runner,
    )
    assert result.status == ModelStatus.CANDIDATE and result.gate is None
    assert result.outcome.steps == TINY_TRAINING.max_steps
    assert set(result.timings) == {"train", "evaluate", "int8_check"}
    with loop_db.session() as s:
        version = get_version(s, result.version_id)
        assert version.status == ModelStatus.CANDIDATE and version.status_reason == ""
        assert set(version.hyperparams) == VERSION_HYPERPARAMS
        assert version.hyperparams["steps"] == TINY_TRAINING.max_steps
        assert version.hyperparams["start_version"] == "base"
        assert version.hyperparams["pairs"]["total"] == len(pairs)
        assert version.metrics == result.metrics.to_dict()
        assert set(version.metrics) == {"test", "heldout"}
        assert version.dataset_id == result.dataset_id


@pytest.mark.slow
def test_a_judge_that_says_no_registers_the_version_rejected_with_its_reason(
    loop_db: Database, loop_settings: Settings, golden: GoldenSet
) -> None:
    def impossible_to_please(_candidate: ModelRef, metrics: GoldenMetrics) -> Judgement:
        return Judgement(compare(metrics, metrics, tolerance=0.01), VoteSliceMetrics())

    prompts = load_corpus_from_db(loop_db)
    pairs = corpus_pairs_for(TINY_TRAINING, prompts, golden, loop_settings.cache_dir)
    result = make_candidate(
        loop_db,
        loop_settings,
        corpus_training_set(loop_db, pairs, prompts),
        resolve_model("base", loop_db),
        golden,
        TINY_TRAINING,
        label="test",
        judge=impossible_to_please,
    )
    assert result.status == ModelStatus.REJECTED and not result.passed
    assert "int8_check" not in result.timings  # a rejected version is never served
    with loop_db.session() as s:
        version = get_version(s, result.version_id)
        assert version.status == ModelStatus.REJECTED
        assert version.status_reason == "gate: no held-out votes and no golden gain (+0.000)"
        assert set(version.metrics) == {"test", "heldout", "vote_slice", "gate"}
