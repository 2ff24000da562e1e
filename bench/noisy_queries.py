"""Clean vs noisy judged queries, with and without the typo-tolerance layer.

    nice python -m bench.noisy_queries --model base --model /path/to/fine-tuned --out out/noisy

``data/eval/queries_noisy.jsonl`` holds one deterministic typo or variant per judged query
(``retrieval/query_noise.py``) with the same judgments. Each model is scored on the test
queries over the whole corpus, the held-out prompts, and all judged queries over the whole
corpus, clean and noisy, with ``typo_tolerance`` off and on, in the default document format.
Prints NDCG@5 and the loss noisy - clean, per variant kind too; writes ``noisy.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def settings_for(prompts, golden, noisy):  # type: ignore[no-untyped-def]
    """{setting: (prompts, clean queries, noisy queries)}, judgments restricted alike."""
    from retrieval.eval_sets import restrict_to

    by_qid = {q.qid: q for q in noisy}
    out = {}
    known = {p.id for p in prompts}
    for name, (corpus, clean) in {
        **golden.settings(),
        "all queries": (prompts, restrict_to(golden.queries, known)),
    }.items():
        out[name] = (corpus, clean, [replace(q, query=by_qid[q.qid].query) for q in clean])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--model", action="append", default=None, help="base or a model dir")
    parser.add_argument("--out", type=Path, default=Path("out/noisy"))
    parser.add_argument(
        "--theme-weight",
        type=float,
        default=0.0,
        help="theme-match stage weight (PROMPTBOT_THEME_WEIGHT; 0: dense only)",
    )
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "pb-bench")
    args = parser.parse_args()

    from bench.document_formats import model_from_spec
    from retrieval.corpus import SHIPPED_CORPUS
    from retrieval.corpus_view import load_corpus_from_file
    from retrieval.engine_builder import build_engine, load_encoder
    from retrieval.eval_sets import load_queries
    from retrieval.evaluation import dense_ranker, evaluate_ranker
    from retrieval.golden_set import load_golden_set
    from retrieval.query_noise import NOISY_QUERIES_PATH

    prompts = load_corpus_from_file(SHIPPED_CORPUS)
    golden = load_golden_set(prompts)
    noisy = load_queries(NOISY_QUERIES_PATH)
    kinds = {
        json.loads(line)["qid"]: json.loads(line)["variant"]
        for line in NOISY_QUERIES_PATH.read_text(encoding="utf-8").splitlines()
    }
    results: dict[str, Any] = {}
    lines = [
        "| model | setting | clean | noisy | loss | clean, tolerant | noisy, tolerant"
        " | loss, tolerant |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for spec in args.model or ["base"]:
        ref = model_from_spec(spec)
        encoder = load_encoder(ref, "onnx", args.cache)
        for setting, (corpus, clean, dirty) in settings_for(prompts, golden, noisy).items():
            row: dict[str, Any] = {}
            for tolerant in (False, True):
                engine = build_engine(
                    ref,
                    corpus,
                    args.cache,
                    encoder=encoder,
                    typo_tolerance=tolerant,
                    theme_weight=args.theme_weight,
                )
                for label, queries in (("clean", clean), ("noisy", dirty)):
                    metrics = evaluate_ranker(dense_ranker(engine), queries)
                    row[f"{label}{'+tol' if tolerant else ''}"] = metrics["all"]["NDCG@5"]
                    if label == "noisy":
                        per_kind = per_variant(engine, queries, kinds)
                        row[f"by variant{'+tol' if tolerant else ''}"] = per_kind
            results.setdefault(ref.label, {})[setting] = row
            lines.append(
                f"| {ref.label} | {setting} | {row['clean']:.3f} | {row['noisy']:.3f} | "
                f"{row['noisy'] - row['clean']:+.3f} | {row['clean+tol']:.3f} | "
                f"{row['noisy+tol']:.3f} | {row['noisy+tol'] - row['clean+tol']:+.3f} |"
            )
            print(lines[-1], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "noisy.json").write_text(json.dumps(results, indent=1))
    (args.out / "noisy.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def per_variant(engine, queries, kinds) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """NDCG@5 of the noisy queries grouped by the kind of variant they carry."""
    from retrieval.evaluation import dense_ranker, evaluate_ranker

    groups: dict[str, list] = defaultdict(list)
    for q in queries:
        groups[kinds.get(q.qid, "unknown")].append(q)
    return {
        kind: evaluate_ranker(dense_ranker(engine), qs)["all"]["NDCG@5"]
        for kind, qs in sorted(groups.items())
    }


if __name__ == "__main__":
    main()
