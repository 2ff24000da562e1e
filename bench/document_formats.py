"""Choose the document text by measurement on the *train* split, then report every split.

    nice python -m bench.document_formats --train-pairs 1000 --out out/doc-formats

For each document format (``retrieval.documents.FORMATS``) the base model, BM25 over text and
tags, and hybrid (base + BM25, reciprocal-rank fusion) are scored on three settings: the
train queries over the training prompts (the only setting a choice may read), the test
queries over the whole corpus, and the test queries over the held-out prompts only. With
``--train-pairs N`` it also fine-tunes one small model per format in ``--finetune-formats``
(N corpus pairs, judged train queries left out so the train split stays unseen, 1 epoch of
the ``default`` preset) and scores it in every format. Prints one markdown table per
setting, marks the winner on the train split, and writes ``formats.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SETTINGS = ("train", "test", "heldout")


def evaluation_settings(prompts, golden):  # type: ignore[no-untyped-def]
    """``train`` (train queries over training prompts), ``test`` and ``heldout``."""
    from retrieval.eval_sets import restrict_to

    heldout = golden.split.heldout_prompts
    training = [p for p in prompts if p.id not in heldout]
    train_queries = restrict_to(
        golden.split.train_queries(golden.queries), {p.id for p in training}
    )
    return {"train": (training, train_queries), **golden.settings()}


def score_model(ref, prompts, golden, cache, formats, bm25: bool) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """{format: {setting: {system: NDCG@5 metrics by slice}}}."""
    from retrieval.engine_builder import build_engine, load_encoder
    from retrieval.evaluation import bm25_ranker, dense_ranker, evaluate_ranker

    encoder = load_encoder(ref, "onnx", cache)
    out: dict[str, Any] = {}
    for fmt in formats:
        out[fmt] = {}
        for setting, (corpus, queries) in evaluation_settings(prompts, golden).items():
            rankers = {}
            for hybrid in (False, True):
                engine = build_engine(
                    ref, corpus, cache, encoder=encoder, hybrid=hybrid, doc_format=fmt
                )
                rankers[f"hybrid ({ref.label})" if hybrid else ref.label] = dense_ranker(engine)
            if bm25:
                rankers["bm25 (text+tags)"] = bm25_ranker(corpus, with_tags=True, doc_format=fmt)
            out[fmt][setting] = {
                name: evaluate_ranker(ranker, queries) for name, ranker in rankers.items()
            }
    return out


def small_finetune(prompts, golden, cache, n_pairs: int, fmt: str, out_dir: Path):  # type: ignore[no-untyped-def]
    """One epoch of the default preset on ``n_pairs`` corpus pairs, documents as ``fmt``."""
    from retraining.corpus_training import corpus_pairs_for
    from retraining.trainer import PRESETS, TrainingExample, train_candidate
    from retrieval.documents import document_text
    from retrieval.model_registry import base_model_path

    config = PRESETS["default"]
    pairs = [p for p in corpus_pairs_for(config, prompts, golden, cache) if p.source != "judged"]
    pairs = random.Random(config.seed).sample(pairs, min(n_pairs, len(pairs)))
    text = {p.id: document_text(p, fmt) for p in prompts}
    examples = [TrainingExample(p.anchor, text[p.positive_id]) for p in pairs]
    started = time.perf_counter()
    outcome = train_candidate(base_model_path(), base_model_path(), examples, config, out_dir)
    return outcome, time.perf_counter() - started


def model_from_spec(spec: str):  # type: ignore[no-untyped-def]
    """``base`` or a model directory (labelled by its folder name) as a ``ModelRef``."""
    from retrieval.model_registry import ModelRef, base_model_path

    if spec == "base":
        return ModelRef("base", base_model_path())
    return ModelRef(Path(spec).name, Path(spec))


def ndcg(metrics: dict[str, Any], slice_name: str = "all") -> float:
    return float(metrics.get(slice_name, {}).get("NDCG@5", float("nan")))


def markdown(results: dict[str, Any], setting: str) -> str:
    """Rows: system; columns: formats (NDCG@5 over all queries of ``setting``)."""
    formats = list(next(iter(results.values())))
    lines = [
        "| system | " + " | ".join(f"`{f}`" for f in formats) + " |",
        "|" + "---|" * (len(formats) + 1),
    ]
    systems: dict[str, dict[str, float]] = {}
    for by_format in results.values():
        for fmt, by_setting in by_format.items():
            for system, metrics in by_setting[setting].items():
                systems.setdefault(system, {})[fmt] = ndcg(metrics)
    for system, row in systems.items():
        best = max(row.values())
        cells = [f"**{v:.3f}**" if v == best else f"{v:.3f}" for v in (row[f] for f in formats)]
        lines.append(f"| {system} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--formats", default=None, help="comma-separated; default: all")
    parser.add_argument("--train-pairs", type=int, default=0, help="0: base model only")
    parser.add_argument("--finetune-formats", default="title_labels")
    parser.add_argument("--out", type=Path, default=Path("out/doc-formats"))
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "pb-bench")
    args = parser.parse_args()

    from retrieval.corpus import SHIPPED_CORPUS
    from retrieval.corpus_view import load_corpus_from_file
    from retrieval.documents import FORMATS
    from retrieval.golden_set import load_golden_set
    from retrieval.model_registry import ModelRef, base_model_path

    formats = args.formats.split(",") if args.formats else list(FORMATS)
    prompts = load_corpus_from_file(SHIPPED_CORPUS)
    golden = load_golden_set(prompts)
    args.out.mkdir(parents=True, exist_ok=True)
    results_file = args.out / "formats.json"
    results: dict[str, Any] = json.loads(results_file.read_text()) if results_file.exists() else {}
    started = time.perf_counter()
    results["base"] = score_model(
        ModelRef("base", base_model_path()), prompts, golden, args.cache, formats, bm25=True
    )
    timings = {"base scoring s": round(time.perf_counter() - started, 1)}
    if args.train_pairs:
        for fmt in args.finetune_formats.split(","):
            label = f"ft-{fmt}"
            model_dir = Path(tempfile.mkdtemp(prefix="pb-fmt-")) / label
            outcome, seconds = small_finetune(
                prompts, golden, args.cache, args.train_pairs, fmt, model_dir
            )
            timings[f"{label} train s"] = round(seconds, 1)
            timings[f"{label} pairs/s"] = round(outcome.pairs_per_second, 1)
            results[label] = score_model(
                ModelRef(label, model_dir), prompts, golden, args.cache, formats, bm25=False
            )
    results_file.write_text(json.dumps(results, indent=1))
    report = []
    for setting in SETTINGS:
        report += [f"### {setting}", "", markdown(results, setting)]
    report += ["timings: " + json.dumps(timings)]
    (args.out / "formats.md").write_text("\n".join(report))
    print("\n".join(report), flush=True)


if __name__ == "__main__":
    main()
