"""Leave-genre-out: does fine-tuning help on a genre it never trained on?

    nice python -m bench.leave_genre_out --genres 5 --pairs 256 --out out/lgo

For each of the ``--genres`` largest genres G: training pairs are the corpus pairs
(``retraining.corpus_training``) minus every pair whose positive or mined negative is a G
prompt, whose anchor names G (its canonical name or a synonym from data/vocabulary.json), and
minus the judged train queries; ``--pairs`` of them are sampled and the ``--preset``
(``default``, or ``corpus`` with its typo copies) fine-tunes the base for one epoch. Base
and the fine-tune are then scored on G's prompts only, with every judged query (train and
test: none was trained on) restricted to them. Prints NDCG@5 per genre and writes
``lgo.json``; each genre's result is saved as it finishes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def genre_words(genre: str) -> list[str]:
    from retrieval.vocabulary import default_vocabulary, normalize_query

    synonyms = default_vocabulary().genres.get(genre, [])
    return sorted({normalize_query(w) for w in (genre, *synonyms)} - {""})


def pairs_without(pairs, genre: str, genre_ids: set[str]):  # type: ignore[no-untyped-def]
    from retrieval.vocabulary import normalize_query

    words = genre_words(genre)

    def names_genre(anchor: str) -> bool:
        text = f" {normalize_query(anchor)} "
        return any(f" {w} " in text for w in words)

    return [
        p
        for p in pairs
        if p.source != "judged"
        and p.positive_id not in genre_ids
        and p.negative_id not in genre_ids
        and not names_genre(p.anchor)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--genres", type=int, default=5)
    parser.add_argument("--pairs", type=int, default=256)
    parser.add_argument("--out", type=Path, default=Path("out/lgo"))
    parser.add_argument(
        "--preset", default="default", help="training preset: default (the loop's) or corpus"
    )
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "pb-bench")
    args = parser.parse_args()

    from retraining.corpus_training import corpus_pairs_for
    from retraining.trainer import PRESETS, TrainingExample, train_candidate
    from retrieval.corpus import SHIPPED_CORPUS
    from retrieval.corpus_view import load_corpus_from_file
    from retrieval.documents import TRAINING_FORMAT, document_text
    from retrieval.engine_builder import build_engine
    from retrieval.eval_sets import restrict_to
    from retrieval.evaluation import dense_ranker, evaluate_ranker
    from retrieval.golden_set import load_golden_set
    from retrieval.model_registry import ModelRef, base_model_path

    config = PRESETS[args.preset]
    prompts = load_corpus_from_file(SHIPPED_CORPUS)
    golden = load_golden_set(prompts)
    all_pairs = corpus_pairs_for(config, prompts, golden, args.cache)
    text = {p.id: document_text(p, TRAINING_FORMAT) for p in prompts}
    counts = Counter(g for p in prompts for g in p.genres)
    args.out.mkdir(parents=True, exist_ok=True)
    results_file = args.out / "lgo.json"
    results: dict[str, Any] = json.loads(results_file.read_text()) if results_file.exists() else {}
    base = ModelRef("base", base_model_path())
    for genre, _ in counts.most_common(args.genres):
        if genre in results:
            continue
        genre_prompts = [p for p in prompts if genre in p.genres]
        genre_ids = {p.id for p in genre_prompts}
        queries = restrict_to(golden.queries, genre_ids)
        pairs = pairs_without(all_pairs, genre, genre_ids)
        sample = random.Random(config.seed).sample(pairs, min(args.pairs, len(pairs)))
        examples = [TrainingExample(p.anchor, text[p.positive_id]) for p in sample]
        model_dir = Path(tempfile.mkdtemp(prefix="pb-lgo-")) / f"lgo-{genre.lower()}"
        started = time.perf_counter()
        outcome = train_candidate(base_model_path(), base_model_path(), examples, config, model_dir)
        seconds = time.perf_counter() - started
        tuned = ModelRef(model_dir.name, model_dir)
        scores = {
            ref.label: evaluate_ranker(
                dense_ranker(build_engine(ref, genre_prompts, args.cache)), queries
            )["all"]
            for ref in (base, tuned)
        }
        results[genre] = {
            "prompts": len(genre_prompts),
            "queries": len(queries),
            "pairs available": len(pairs),
            "pairs trained": len(sample),
            "preset": args.preset,
            "train s": round(seconds, 1),
            "steps": outcome.steps,
            "base NDCG@5": scores["base"]["NDCG@5"],
            "fine-tuned NDCG@5": scores[tuned.label]["NDCG@5"],
            "base P@1": scores["base"]["P@1"],
            "fine-tuned P@1": scores[tuned.label]["P@1"],
        }
        results_file.write_text(json.dumps(results, indent=1))
        print(json.dumps({genre: results[genre]}), flush=True)
    (args.out / "lgo.md").write_text(markdown(results))
    print(markdown(results))


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "| held-out genre | prompts | queries | base NDCG@5 | fine-tuned NDCG@5 | gain"
        " | base P@1 | fine-tuned P@1 | pairs | train s |",
        "|" + "---|" * 10,
    ]
    for genre, r in results.items():
        gain = r["fine-tuned NDCG@5"] - r["base NDCG@5"]
        lines.append(
            f"| {genre} | {r['prompts']} | {r['queries']} | {r['base NDCG@5']:.3f} | "
            f"{r['fine-tuned NDCG@5']:.3f} | {gain:+.3f} | {r['base P@1']:.3f} | "
            f"{r['fine-tuned P@1']:.3f} | {r['pairs trained']} | {r['train s']} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
