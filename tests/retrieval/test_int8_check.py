"""int8 serves a model version only when it measures at least as well as fp32."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest

import retrieval.int8_check as int8_check
from retrieval.base_model import ensure_base_model
from retrieval.corpus import SHIPPED_CORPUS, import_prompt_file
from retrieval.corpus_view import load_corpus_from_file
from retrieval.engine import INT8_SCHEME, embedding_cache_file, int8_dir_for, onnx_dir_for
from retrieval.engine_builder import load_encoder
from retrieval.engine_factory import ServingEngineFactory
from retrieval.golden_set import GoldenSet, load_golden_set
from retrieval.int8_check import MAX_MEAN_LOSS, decide, int8_verdict, serving_backend
from retrieval.int8_verdict import Int8Verdict, read_verdict, verdict_path
from retrieval.model_registry import ModelRef, base_model_path
from serving.model_pool import ModelPool
from storage.database import Database
from storage.models import ModelStatus
from storage.repositories.model_versions import register_version, set_champion
from tests.helpers.corpus import first_by_main_genre

T0 = datetime(2026, 1, 1)


def test_int8_serves_when_not_worse_on_average_and_no_setting_drops_much() -> None:
    assert decide({"test": 0.496, "heldout": 0.557}, {"test": 0.513, "heldout": 0.555})[0]
    assert decide({"test": 0.5, "heldout": 0.5}, {"test": 0.5, "heldout": 0.5})[0]


def test_int8_refused_when_one_setting_drops_beyond_the_gate_tolerance() -> None:
    serve, reason = decide({"test": 0.50, "heldout": 0.60}, {"test": 0.56, "heldout": 0.58})
    assert not serve and "heldout" in reason


def test_int8_refused_when_worse_on_average_by_more_than_the_golden_set_resolves() -> None:
    serve, reason = decide({"test": 0.50, "heldout": 0.60}, {"test": 0.492, "heldout": 0.596})
    assert not serve and "mean" in reason  # mean loss 0.006 > MAX_MEAN_LOSS


def test_int8_serves_a_mean_loss_within_the_golden_set_resolution() -> None:
    # a fine-tuned version's measured weight-only int8 (docs/results.md): mean loss 0.003
    fp32, int8 = {"test": 0.6101, "heldout": 0.6597}, {"test": 0.6082, "heldout": 0.6556}
    assert decide(fp32, int8)[0]
    assert MAX_MEAN_LOSS == 0.005
    assert decide({"test": 0.50, "heldout": 0.60}, {"test": 0.496, "heldout": 0.595})[0]  # 0.0045


@pytest.fixture(scope="module")
def small_golden() -> GoldenSet:
    """The real judged test queries over a quarter of the shipped prompts (fast to embed): the
    first dozen of every main genre, so every kind of query keeps some relevant prompts."""
    prompts = load_corpus_from_file(SHIPPED_CORPUS)
    return load_golden_set(first_by_main_genre(prompts, lambda p: p.genres[0], per_genre=12))


@pytest.fixture
def copied_base(tmp_path: Path, model_cache_dir: Path) -> ModelRef:
    """A copy of the base model with its fp32 export, so verdicts written here stay here."""
    base = ModelRef("base", base_model_path())
    load_encoder(base, "onnx", model_cache_dir)  # exports once per session
    copy = ModelRef("v9", tmp_path / "v9")
    shutil.copytree(base_model_path(), copy.path)
    shutil.copytree(onnx_dir_for(base, model_cache_dir), onnx_dir_for(copy, model_cache_dir))
    return copy


@pytest.mark.slow
def test_verdict_is_measured_once_then_read_back(
    copied_base: ModelRef,
    model_cache_dir: Path,
    small_golden: GoldenSet,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    verdict = int8_verdict(copied_base, model_cache_dir, small_golden)
    for precision in ("fp32", "int8"):
        assert set(verdict.ndcg5[precision]) == {"test", "heldout"}
        assert all(0.0 < v <= 1.0 for v in verdict.ndcg5[precision].values())
    assert verdict.ndcg5["fp32"] != verdict.ndcg5["int8"]  # really two different encoders
    assert 0.5 < verdict.top1_agreement <= 1.0
    assert verdict.serve == decide(verdict.ndcg5["fp32"], verdict.ndcg5["int8"])[0]
    assert json.loads(verdict_path(copied_base, model_cache_dir).read_text())["serve"] is (
        verdict.serve
    )

    def must_not_run(*_args: object) -> None:
        raise AssertionError("measured twice")

    monkeypatch.setattr(int8_check, "measure_int8", must_not_run)
    assert int8_verdict(copied_base, model_cache_dir) == verdict


@pytest.mark.slow
def test_reading_a_verdict_never_measures(
    copied_base: ModelRef, model_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_run(*_args: object) -> None:
        raise AssertionError("measured")

    monkeypatch.setattr(int8_check, "measure_int8", must_not_run)
    assert read_verdict(copied_base, model_cache_dir) is None
    _write_verdict(copied_base, model_cache_dir, serve=True)
    stored = read_verdict(copied_base, model_cache_dir)
    assert stored is not None and stored.serve and stored.reason == "written by the test"


def _write_verdict(model: ModelRef, cache: Path, serve: bool) -> None:
    verdict = Int8Verdict(serve, "written by the test", {"fp32": {}, "int8": {}}, 1.0)
    verdict_path(model, cache).parent.mkdir(parents=True, exist_ok=True)
    verdict_path(model, cache).write_text(json.dumps(verdict.to_dict()))


@pytest.mark.slow
@pytest.mark.parametrize(("serve", "expected"), [(True, "onnx-int8"), (False, "onnx")])
def test_pool_follows_the_verdict(
    sqlite_db: Database,
    copied_base: ModelRef,
    model_cache_dir: Path,
    tmp_path: Path,
    serve: bool,
    expected: str,
) -> None:
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"id": "a", "text": "A dragon sleeps."}\n{"id": "b", "text": "A ghost."}\n')
    import_prompt_file(sqlite_db, corpus)
    ensure_base_model(sqlite_db)
    with sqlite_db.session() as s:
        register_version(s, "v9", str(copied_base.path), ModelStatus.CANDIDATE, T0)
        set_champion(s, "v9", "test", "promote", T0)
    _write_verdict(copied_base, model_cache_dir, serve)

    pool = ModelPool(sqlite_db, ServingEngineFactory(model_cache_dir, int8="auto"))
    assert pool.refresh().backend == expected
    assert pool.serving_engine().search("dragon", 1)[0].prompt_id == "a"
    off = ServingEngineFactory(model_cache_dir, int8="off")
    assert ModelPool(sqlite_db, off).refresh().backend == "onnx"


@pytest.mark.slow
def test_no_verdict_is_measured_unless_asked(
    copied_base: ModelRef, model_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_run(*_args: object) -> None:
        raise AssertionError("measured")

    monkeypatch.setattr(int8_check, "measure_int8", must_not_run)
    assert serving_backend(copied_base, model_cache_dir, "onnx", "off") == "onnx"
    assert serving_backend(copied_base, model_cache_dir, "torch", "auto") == "torch"
    assert not verdict_path(copied_base, model_cache_dir).exists()


@pytest.mark.slow
def test_a_verdict_that_cannot_be_read_keeps_fp32(
    copied_base: ModelRef, model_cache_dir: Path
) -> None:
    verdict_path(copied_base, model_cache_dir).parent.mkdir(parents=True, exist_ok=True)
    verdict_path(copied_base, model_cache_dir).write_text("{not json")
    assert serving_backend(copied_base, model_cache_dir, "onnx", "auto") == "onnx"


def test_an_int8_copy_of_another_scheme_is_never_read(tmp_path: Path) -> None:
    """The int8 copy, its verdict and its embeddings are named by INT8_SCHEME: a cache made
    with the dynamic int8 of before (``{key}-int8``) must not answer for today's copy."""
    model = ModelRef("v3", tmp_path / "v3")
    old_dir = tmp_path / "onnx" / f"{model.key}-int8"
    names = {
        int8_dir_for(model, tmp_path).name,
        verdict_path(model, tmp_path).name,
        embedding_cache_file(model, tmp_path, "onnx-int8", "tags_title").name,
    }
    assert all(INT8_SCHEME in name for name in names)
    assert old_dir.name not in names and f"{model.key}-int8-verdict.json" not in names
    fp32 = embedding_cache_file(model, tmp_path, "onnx", "tags_title")
    assert fp32.name == f"{model.key}-onnx-tags_title.npz"  # fp32 caches keep their names
