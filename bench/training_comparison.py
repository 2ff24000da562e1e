"""Compare fine-tuning configurations on the project's split: quality and cost, one table.

    python -m bench.training_comparison --configs strategy,default,mnrl_avg --out out/train-cmp

Builds the corpus training pairs once (hard negatives mined with the base model), trains each
configuration from the base model, and evaluates it on the test queries over the whole corpus
and over the held-out prompts only (prompts no training pair contains). Prints NDCG@5 per
setting and slice next to the base model, with training time and pairs/s, and writes
``comparison.json`` and ``comparison.md``. This is how the ``default`` preset was chosen.
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

os.environ.setdefault("HF_HUB_OFFLINE", "1")

CONFIGS: dict[str, dict[str, object]] = {
    "strategy": {},  # PRESETS["strategy"] as is
    "default": {},  # PRESETS["default"] as is
}


def config_for(name: str):  # type: ignore[no-untyped-def]
    from retraining.trainer import PRESETS, TrainConfig

    if name in PRESETS:
        return PRESETS[name]
    # name=key:value,key:value on top of the default preset, e.g. "mnrl:loss=mnrl,epochs=1"
    _label, _, spec = name.partition(":")
    overrides: dict[str, Any] = {}
    for item in filter(None, spec.split(",")):
        key, _, value = item.partition("=")
        field_type = type(getattr(TrainConfig(), key))
        overrides[key] = value == "true" if field_type is bool else field_type(value)
    return replace(PRESETS["default"], **overrides)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--configs", default="strategy,default")
    parser.add_argument("--out", type=Path, default=Path("out/training-comparison"))
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "pb-bench")
    args = parser.parse_args()

    from retraining.candidates import to_examples
    from retraining.corpus_training import corpus_pairs_for
    from retraining.trainer import train_candidate
    from retrieval.corpus import SHIPPED_CORPUS
    from retrieval.corpus_view import load_corpus_from_file
    from retrieval.golden_set import evaluate_model, load_golden_set
    from retrieval.model_registry import ModelRef, base_model_path

    prompts = load_corpus_from_file(SHIPPED_CORPUS)
    golden = load_golden_set(prompts)
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    results_file = args.out / "comparison.json"
    if results_file.exists():
        results = json.loads(results_file.read_text())
    if "base" not in results:
        results["base"] = {
            "metrics": evaluate_model(
                ModelRef("base", base_model_path()), golden, args.cache
            ).to_dict()
        }
    pairs_cache: dict[bool, list] = {}
    for name in args.configs.split(";" if ":" in args.configs else ","):
        config = config_for(name)
        key = name.partition(":")[0]
        if config.hard_negatives not in pairs_cache:
            pairs_cache[config.hard_negatives] = corpus_pairs_for(
                config, prompts, golden, args.cache
            )
        pairs = pairs_cache[config.hard_negatives]
        out_dir = Path(tempfile.mkdtemp(prefix="pb-cmp-")) / key
        started = time.perf_counter()
        outcome = train_candidate(
            base_model_path(), base_model_path(), to_examples(pairs, prompts), config, out_dir
        )
        seconds = time.perf_counter() - started
        metrics = evaluate_model(ModelRef(key, out_dir), golden, args.cache).to_dict()
        results[key] = {
            "config": config.to_dict(),
            "metrics": metrics,
            "pairs": len(pairs),
            "train_seconds": round(seconds, 1),
            "steps": outcome.steps,
            "pairs_per_second": round(outcome.pairs_per_second, 1),
            "model_dir": str(out_dir),
        }
        results_file.write_text(json.dumps(results, indent=1))
        print_summary(results)
    (args.out / "comparison.md").write_text(markdown(results))


def _n(metrics: dict, setting: str, slice_name: str = "all") -> str:
    value = metrics.get(setting, {}).get(slice_name, {}).get("NDCG@5")
    return "—" if value is None else f"{value:.3f}"


def markdown(results: dict) -> str:
    slices = sorted({s for r in results.values() for s in r["metrics"].get("test", {})} - {"all"})
    head = [
        "config",
        "test NDCG@5",
        "held-out NDCG@5",
        *[f"test {s}" for s in slices],
        "train s",
        "pairs/s",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in results.items():
        m = r["metrics"]
        lines.append(
            "| "
            + " | ".join(
                [
                    name,
                    _n(m, "test"),
                    _n(m, "heldout"),
                    *[_n(m, "test", s) for s in slices],
                    str(r.get("train_seconds", "—")),
                    str(r.get("pairs_per_second", "—")),
                ]
            )
            + " |"
        )
    return "\n".join(lines) + "\n"


def print_summary(results: dict) -> None:
    print(markdown(results), flush=True)


if __name__ == "__main__":
    main()
