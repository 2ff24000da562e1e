"""Training pairs from the corpus for `promptbot train`: generated queries + judged train
queries, hard negatives mined with the base model, misspelled copies on request,
leak-checked against the split."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from retraining.corpus_pairs import (
    CorpusPairBuilder,
    Pair,
    assert_no_leak,
    mine_hard_negatives,
    with_typo_copies,
)
from retraining.trainer import TrainConfig
from retrieval.corpus_view import CorpusPrompt
from retrieval.engine_builder import build_engine
from retrieval.eval_sets import load_queries
from retrieval.golden_set import GoldenSet
from retrieval.model_registry import resolve_model
from retrieval.query_noise import NOISY_QUERIES_PATH
from retrieval.vocabulary import default_vocabulary


def base_rankings(
    anchors: Sequence[str], prompts: Sequence[CorpusPrompt], cache_dir: Path, depth: int = 50
) -> dict[str, list[str]]:
    engine = build_engine(resolve_model("base", None), prompts, cache_dir)
    unique = list(dict.fromkeys(anchors))
    hits = engine.search_many(unique, depth)
    return {a: [h.prompt_id for h in row] for a, row in zip(unique, hits, strict=True)}


def corpus_pairs(
    prompts: Sequence[CorpusPrompt],
    golden: GoldenSet,
    cache_dir: Path,
    hard_negatives: bool = False,
    per_prompt: int = 8,
    seed: int = 13,
    typo_share: float = 0.0,
) -> list[Pair]:
    builder = CorpusPairBuilder(default_vocabulary(), seed=seed, per_prompt=per_prompt)
    heldout = golden.split.heldout_prompts
    forbidden = golden.split.test_anchors(golden.queries)
    pairs = builder.build(prompts, heldout, forbidden, golden.split.train_queries(golden.queries))
    if hard_negatives:
        training = [p for p in prompts if p.id not in heldout]
        rankings = base_rankings([p.anchor for p in pairs], training, cache_dir)
        pairs = mine_hard_negatives(pairs, training, rankings, builder, seed=seed)
    if typo_share:
        pairs = with_typo_copies(pairs, typo_share, seed, judged_noisy_anchors())
    assert_no_leak(pairs, heldout, forbidden)
    return pairs


def judged_noisy_anchors() -> frozenset[str]:
    """The judged noisy queries, normalized: no typo copy may spell one of them."""
    if not NOISY_QUERIES_PATH.is_file():
        return frozenset()
    return frozenset(q.normalized for q in load_queries(NOISY_QUERIES_PATH))


def corpus_pairs_for(
    config: TrainConfig, prompts: Sequence[CorpusPrompt], golden: GoldenSet, cache_dir: Path
) -> list[Pair]:
    """``corpus_pairs`` with the knobs a training configuration names."""
    return corpus_pairs(
        prompts,
        golden,
        cache_dir,
        hard_negatives=config.hard_negatives,
        per_prompt=config.pairs_per_prompt,
        seed=config.seed,
        typo_share=config.typo_share,
    )
