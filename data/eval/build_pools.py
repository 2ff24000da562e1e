"""Judging pools for data/eval/queries.jsonl (how the judgments were made).

    python data/eval/build_pools.py DRAFT.jsonl OUT_DIR [BATCHES]

For each query, the pool is the union of the top 20 of three systems over the whole corpus —
BM25 on text+tags, the base model (tags indexed), and tag matching (prompts whose genre,
theme or topic names occur in the query, ordered by base-model score) — plus the top 10 of
the base model among held-out prompts only, so the held-out-only evaluation is judged too.
Pools are written as markdown batches that judges read and grade 0/1/2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from retrieval.corpus import SHIPPED_CORPUS
from retrieval.corpus_view import load_corpus_from_file
from retrieval.engine import Bm25Ranker
from retrieval.engine_builder import build_engine
from retrieval.eval_sets import SPLIT_PATH
from retrieval.model_registry import resolve_model
from retrieval.vocabulary import default_vocabulary, normalize_query


def tag_terms() -> dict[str, tuple[str, str]]:
    v = default_vocabulary()
    terms: dict[str, tuple[str, str]] = {}
    for kind, table in (("genre", v.genres), ("theme", v.themes), ("topic", v.topics)):
        for canonical, synonyms in table.items():
            for name in (canonical, *synonyms):
                terms.setdefault(normalize_query(name), (kind, canonical))
    return terms


def tag_matches(query: str, prompts, scores: np.ndarray, terms) -> list[int]:  # type: ignore[no-untyped-def]
    words = normalize_query(query)
    facets = [value for term, value in terms.items() if f" {term} " in f" {words} "]
    matched = []
    for i, p in enumerate(prompts):
        text = f"{p.title} {p.text}".lower()
        if any(
            (kind == "genre" and c in p.genres)
            or (kind == "theme" and c in p.themes)
            or (kind == "topic" and c in text)
            for kind, c in facets
        ):
            matched.append(i)
    return sorted(matched, key=lambda i: -scores[i])[:20]


def main(draft: Path, out_dir: Path, batches: int = 8) -> None:
    prompts = load_corpus_from_file(SHIPPED_CORPUS)
    heldout = set(json.loads(SPLIT_PATH.read_text())["heldout_prompts"])
    queries = [json.loads(x) for x in draft.read_text().splitlines() if x.strip()]
    base = build_engine(resolve_model("base", None), prompts, Path("/tmp/pool-cache"))
    bm25 = Bm25Ranker(prompts, with_tags=True)
    terms = tag_terms()
    index = {p.id: i for i, p in enumerate(prompts)}
    vectors = base.encoder.encode([q["query"] for q in queries])
    all_scores = vectors @ base.matrix.T
    pools = []
    for q, scores in zip(queries, all_scores, strict=True):
        order = list(np.argsort(-scores))
        dense = order[:20]
        held = [i for i in order if prompts[i].id in heldout][:10]
        lexical = [index[h.prompt_id] for h in bm25.search(q["query"], 20)]
        pool = list(
            dict.fromkeys(
                [*dense, *lexical, *tag_matches(q["query"], prompts, scores, terms), *held]
            )
        )
        pools.append((q, pool))
    out_dir.mkdir(parents=True, exist_ok=True)
    size = -(-len(pools) // batches)
    for b in range(batches):
        lines = []
        for q, pool in pools[b * size : (b + 1) * size]:
            lines.append(f'## {q["qid"]} — "{q["query"]}" ({q["slice"]})\nneed: {q["need"]}\n')
            for i in pool:
                p = prompts[i]
                lines.append(
                    f"- {p.id} | {p.title} | {', '.join(p.genres)} | "
                    f"{', '.join(p.themes)} | {p.text}"
                )
            lines.append("")
        (out_dir / f"batch{b + 1}.md").write_text("\n".join(lines))
    sizes = [len(p) for _, p in pools]
    print(f"{len(pools)} queries, pool size mean {np.mean(sizes):.1f}, max {max(sizes)}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 8)
