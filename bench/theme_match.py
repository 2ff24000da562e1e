"""The theme-match second stage: its weight fit on the train split, judged on held-out prompts.

    nice python -m bench.theme_match --model base --model out/sweep/models/<run> \
        --weights 0,0.05,0.1,0.15,0.2,0.3 --out out/theme-match

For each model and weight, the serving engine (``retrieval.theme_match``: a bonus of
``weight`` for the themes a query names, over the dense top 30) is scored on train queries
over the training prompts, test queries over the whole corpus and test queries over the
held-out prompts, in the searched document format. The weight each model would be given is
the best on the *train* column only; the held-out column is where the stage is judged.
``--canonical-only`` drops the vocabulary's synonyms (only theme names as tagged match): what
a user gets whose words for a theme the vocabulary lacks. Also times the stage itself per
query (the dense search excluded). Writes ``theme_match.json`` and ``theme_match.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SETTINGS = ("train", "test", "heldout")
SLICES = ("genre_topic", "multi_facet", "nonfiction", "synonym", "theme")


def chosen_weight(rows: dict[str, Any]) -> str:
    """The weight with the best train NDCG@5 (the smaller weight on a tie)."""
    return max(rows, key=lambda w: (round(rows[w]["train"]["all"], 4), -float(w)))


def stage_cost_ms(engine: Any, queries: list[str]) -> tuple[float, float]:
    """p50 and p95 of the bonus and re-sort alone, on the engine's dense top 30."""
    from retrieval.theme_match import RERANK_DEPTH

    matcher = engine.theme_matcher
    dense = engine.search_many(queries, RERANK_DEPTH)  # any order will do for timing
    times = []
    for _ in range(3):
        for query, hits in zip(queries, dense, strict=True):
            ranked = [(engine._row_of[h.prompt_id], h.score) for h in hits]
            normalized = engine.normalize(query)
            start = time.perf_counter()
            matcher.rerank(normalized, ranked, engine.themes_of_row, engine.theme_weight)
            times.append((time.perf_counter() - start) * 1e3)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "| model | weight | train | test | held-out | " + " | ".join(SLICES) + " |",
        "|---|---|---|---|---|" + "---|" * len(SLICES),
    ]
    for model, rows in results.items():
        chosen = chosen_weight(rows)
        for weight, row in rows.items():
            mark = " (train's pick)" if weight == chosen else ""
            held = row["heldout"]
            lines.append(
                f"| {model} | {weight}{mark} | {row['train']['all']:.3f} | "
                f"{row['test']['all']:.3f} | **{held['all']:.3f}** | "
                + " | ".join(f"{held.get(s, float('nan')):.3f}" for s in SLICES)
                + " |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", default=None, help="base or a model dir")
    parser.add_argument("--weights", default="0,0.05,0.1,0.15,0.2,0.3")
    parser.add_argument(
        "--canonical-only", action="store_true", help="match theme names only, no synonyms"
    )
    parser.add_argument("--out", type=Path, default=Path("out/theme-match"))
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "pb-bench")
    args = parser.parse_args()

    from bench.document_formats import evaluation_settings, model_from_spec
    from retrieval.corpus import SHIPPED_CORPUS
    from retrieval.corpus_view import load_corpus_from_file
    from retrieval.engine_builder import build_engine, load_encoder
    from retrieval.evaluation import dense_ranker, evaluate_ranker
    from retrieval.golden_set import load_golden_set
    from retrieval.theme_match import ThemeMatcher
    from retrieval.vocabulary import default_vocabulary

    vocabulary = default_vocabulary()
    if args.canonical_only:
        vocabulary = replace(vocabulary, themes={theme: [] for theme in vocabulary.themes})

    prompts = load_corpus_from_file(SHIPPED_CORPUS)
    golden = load_golden_set(prompts)
    settings = evaluation_settings(prompts, golden)
    weights = [w.strip() for w in args.weights.split(",")]
    results: dict[str, Any] = {}
    cost: dict[str, tuple[float, float]] = {}
    for spec in args.model or ["base"]:
        ref = model_from_spec(spec)
        encoder = load_encoder(ref, "onnx", args.cache)
        rows: dict[str, Any] = {}
        for weight in weights:
            rows[weight] = {}
            for setting in SETTINGS:
                corpus, queries = settings[setting]
                engine = build_engine(
                    ref, corpus, args.cache, encoder=encoder, theme_weight=float(weight)
                )
                if engine.theme_matcher is not None:
                    engine.theme_matcher = ThemeMatcher.from_corpus(
                        engine.themes_of_row, vocabulary
                    )
                metrics = evaluate_ranker(dense_ranker(engine), queries)
                rows[weight][setting] = {k: v["NDCG@5"] for k, v in metrics.items()}
                if setting == "test" and float(weight) and ref.label not in cost:
                    cost[ref.label] = stage_cost_ms(engine, [q.query for q in queries])
        results[ref.label] = rows
        print(f"{ref.label}: train's pick {chosen_weight(rows)}", flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "theme_match.json").write_text(
        json.dumps({"results": results, "stage_ms_p50_p95": cost}, indent=1)
    )
    table = markdown(results)
    costs = "; ".join(f"{m}: p50 {p50:.3f} ms, p95 {p95:.3f} ms" for m, (p50, p95) in cost.items())
    text = f"{table}\n\nThe stage alone, per query: {costs}\n"
    (args.out / "theme_match.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
