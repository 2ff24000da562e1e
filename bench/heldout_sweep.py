"""Which fine-tune holds up on prompts it never saw: loss x pairs x weight averaging, one table.

    nice python -m bench.heldout_sweep --losses mnrl,gist --pairs 1000,2000 \
        --averages 0,0.3,0.5 --out out/heldout-sweep

More corpus pairs made the ``default`` preset better on the test split but not on the 260
held-out prompts (+0.103 against +0.007), so here the knobs are judged where it matters. For
each combination of loss, pairs, learning rate, typo share (and the single-valued options) it
samples that many corpus pairs (judged train queries left out; positives in
``TRAINING_FORMAT``), adds misspelled copies if asked, fine-tunes the base *without*
averaging, then averages the result with the base at every ratio in ``--averages`` (weight of
the base; 0 = the fine-tune as trained) and scores each averaged model on train, test and
held-out queries in the searched format. Training runs once per combination; averaging and
scoring take seconds, which is why the ratios are swept after training rather than trained
one by one.

Writes ``sweep.json`` (re-running skips what is there) and ``sweep.md``, and names the winner
on held-out prompts next to the strongest untuned baseline (the base model).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, cast

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SETTINGS = ("train", "test", "heldout")
TARGET_GAIN = 0.05  # held-out NDCG@5 over the strongest untuned baseline


def run_name(
    loss: str,
    n_pairs: int,
    learning_rate: float,
    typo_share: float = 0.0,
    without: tuple[str, ...] = (),
    pairs_per_prompt: int = 8,
    epochs: float = 1.0,
    seed: int = 13,
) -> str:
    """Every knob that differs from the ``default`` preset is in the name."""
    typos = f"-typo{typo_share:g}" if typo_share else ""
    dropped = "".join(f"-no_{source}" for source in without)
    per_prompt = f"-ppp{pairs_per_prompt}" if pairs_per_prompt != 8 else ""
    rounds = f"-ep{epochs:g}" if epochs != 1 else ""
    seeded = f"-seed{seed}" if seed != 13 else ""
    return f"{loss}-{n_pairs}p-lr{learning_rate:g}{typos}{dropped}{per_prompt}{rounds}{seeded}"


def averaged_name(run: str, base_weight: float) -> str:
    return f"{run}-avg{base_weight:g}"


def sample_pairs(
    pairs: list[Any], n_pairs: int, seed: int, without: tuple[str, ...] = ()
) -> list[Any]:
    """``n_pairs`` corpus pairs without the judged train queries (those stay unseen) and
    without the sources named in ``without``."""
    pool = [p for p in pairs if p.source != "judged" and p.source not in without]
    return random.Random(seed).sample(pool, min(n_pairs, len(pool)))


def train_unaveraged(
    examples: list[Any],
    loss: Literal["mnrl", "gist"],
    learning_rate: float,
    epochs: float,
    seed: int,
    out_dir: Path,
) -> tuple[Any, float]:
    from retraining.trainer import PRESETS, train_candidate
    from retrieval.model_registry import base_model_path

    config = replace(
        PRESETS["default"],
        loss=loss,
        learning_rate=learning_rate,
        epochs=epochs,
        seed=seed,
        average_with_start=0.0,
    )
    started = time.perf_counter()
    outcome = train_candidate(base_model_path(), base_model_path(), examples, config, out_dir)
    return outcome, time.perf_counter() - started


def save_averaged(trained_dir: Path, base_weight: float, out_dir: Path) -> Path:
    """``(1 - w) * trained + w * base`` saved to ``out_dir`` (the trained model for w = 0)."""
    if base_weight == 0:
        return trained_dir
    from sentence_transformers import SentenceTransformer

    from retraining.trainer import average_with
    from retrieval.model_registry import base_model_path

    model = SentenceTransformer(str(trained_dir), device="cpu")
    average_with(model, base_model_path(), base_weight)
    model.save(str(out_dir))
    return out_dir


def score(ref, prompts, golden, cache: Path) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """{setting: metrics by slice} for the dense model in the searched format."""
    from bench.document_formats import evaluation_settings
    from retrieval.engine_builder import build_engine, load_encoder
    from retrieval.evaluation import dense_ranker, evaluate_ranker

    encoder = load_encoder(ref, "onnx", cache)
    out: dict[str, Any] = {}
    for setting, (corpus, queries) in evaluation_settings(prompts, golden).items():
        engine = build_engine(ref, corpus, cache, encoder=encoder)
        out[setting] = evaluate_ranker(dense_ranker(engine), queries)
    return out


def ndcg(metrics: dict[str, Any], setting: str, slice_name: str = "all") -> float:
    from bench.document_formats import ndcg as setting_ndcg

    return setting_ndcg(metrics[setting], slice_name)


def winner(results: dict[str, Any], setting: str = "heldout") -> str:
    """The fine-tune with the best NDCG@5 on ``setting`` (the base never wins its own race)."""
    tuned = {k: v for k, v in results.items() if k != "base"}
    return max(tuned, key=lambda k: ndcg(tuned[k]["metrics"], setting))


def markdown(results: dict[str, Any]) -> str:
    base = results["base"]["metrics"]
    slices = sorted(s for s in base["heldout"] if s != "all")
    head = [
        "model",
        *[f"{s} NDCG@5" for s in SETTINGS],
        "held-out gain",
        *[f"held-out {s}" for s in slices],
        "train s",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in results.items():
        m = row["metrics"]
        gain = ndcg(m, "heldout") - ndcg(base, "heldout")
        cells = [
            name,
            *[f"{ndcg(m, s):.3f}" for s in SETTINGS],
            "—" if name == "base" else f"{gain:+.3f}",
            *[f"{ndcg(m, 'heldout', s):.3f}" for s in slices],
            str(row.get("train_seconds", "—")),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if len(results) > 1:
        best = winner(results)
        gain = ndcg(results[best]["metrics"], "heldout") - ndcg(base, "heldout")
        verdict = "reached" if gain >= TARGET_GAIN else "not reached"
        lines += [
            "",
            f"Best on held-out prompts: `{best}`, {gain:+.3f} over the base "
            f"(target +{TARGET_GAIN:.2f}: {verdict}).",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--losses", default="mnrl", help="comma-separated: mnrl, gist")
    parser.add_argument("--pairs", default="1000", help="comma-separated pair counts")
    parser.add_argument("--learning-rates", default="2e-5", help="comma-separated")
    parser.add_argument("--averages", default="0,0.3", help="weights of the base, comma-separated")
    parser.add_argument(
        "--typo-shares", default="0", help="shares of pairs given a misspelled copy too"
    )
    parser.add_argument(
        "--without", default="", help="pair sources to leave out, e.g. keyword,genre"
    )
    parser.add_argument(
        "--pairs-per-prompt", type=int, default=8, help="corpus pairs made per training prompt"
    )
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=13, help="pairs sampled, typo copies, training")
    parser.add_argument("--out", type=Path, default=Path("out/heldout-sweep"))
    args = parser.parse_args()
    if unknown := set(args.losses.split(",")) - {"mnrl", "gist"}:
        parser.error(f"unknown loss {', '.join(sorted(unknown))} (choose from mnrl, gist)")

    from retraining.corpus_pairs import with_typo_copies
    from retraining.corpus_training import corpus_pairs_for, judged_noisy_anchors
    from retraining.trainer import PRESETS, TrainingExample
    from retrieval.corpus import SHIPPED_CORPUS
    from retrieval.corpus_view import load_corpus_from_file
    from retrieval.documents import TRAINING_FORMAT, document_text
    from retrieval.golden_set import load_golden_set
    from retrieval.model_registry import ModelRef, base_model_path

    prompts = load_corpus_from_file(SHIPPED_CORPUS)
    golden = load_golden_set(prompts)
    args.out.mkdir(parents=True, exist_ok=True)
    cache = args.out / "cache"  # models live under out/, so their cache keys never go stale
    results_file = args.out / "sweep.json"
    results: dict[str, Any] = json.loads(results_file.read_text()) if results_file.exists() else {}
    if "base" not in results:
        results["base"] = {
            "metrics": score(ModelRef("base", base_model_path()), prompts, golden, cache)
        }
    pool = corpus_pairs_for(
        replace(PRESETS["default"], pairs_per_prompt=args.pairs_per_prompt),
        prompts,
        golden,
        Path(tempfile.gettempdir()) / "pb-bench",
    )
    text = {p.id: document_text(p, TRAINING_FORMAT) for p in prompts}
    averages = [float(a) for a in args.averages.split(",")]
    noisy_queries = judged_noisy_anchors()
    without = tuple(filter(None, args.without.split(",")))
    grid = [
        (cast(Literal["mnrl", "gist"], loss), int(n), float(lr), float(typos))
        for loss in args.losses.split(",")
        for n in args.pairs.split(",")
        for lr in args.learning_rates.split(",")
        for typos in args.typo_shares.split(",")
    ]
    for loss, n_pairs, learning_rate, typo_share in grid:
        run = run_name(
            loss,
            n_pairs,
            learning_rate,
            typo_share,
            without,
            args.pairs_per_prompt,
            args.epochs,
            args.seed,
        )
        todo = [w for w in averages if averaged_name(run, w) not in results]
        if not todo:
            continue
        trained_dir = args.out / "models" / run
        seconds, n_trained = None, None
        if not (trained_dir / "modules.json").is_file():
            pairs = sample_pairs(pool, n_pairs, args.seed, without)
            pairs = with_typo_copies(pairs, typo_share, args.seed, noisy_queries)
            examples = [TrainingExample(p.anchor, text[p.positive_id]) for p in pairs]
            n_trained = len(examples)
            _outcome, seconds = train_unaveraged(
                examples, loss, learning_rate, args.epochs, args.seed, trained_dir
            )
        for weight in todo:
            name = averaged_name(run, weight)
            model_dir = save_averaged(trained_dir, weight, args.out / "models" / name)
            results[name] = {
                "loss": loss,
                "pairs": n_pairs,
                "learning_rate": learning_rate,
                "typo_share": typo_share,
                "without": list(without),
                "pairs_per_prompt": args.pairs_per_prompt,
                "epochs": args.epochs,
                "pairs_trained": n_trained,
                "base_weight": weight,
                "train_seconds": None if seconds is None else round(seconds, 1),
                "metrics": score(ModelRef(name, model_dir), prompts, golden, cache),
            }
            results_file.write_text(json.dumps(results, indent=1))
        print(markdown(results), flush=True)
    (args.out / "sweep.md").write_text(markdown(results))
    print(markdown(results), flush=True)


if __name__ == "__main__":
    main()
