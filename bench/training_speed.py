"""Training throughput: pairs per second of the real trainer at batch 16, next to fp32.

Runs a few dozen steps of `retraining.trainer.train_candidate` (MNRL, corpus pairs, no
checkpoint at the end kept) in a fresh process, and times the steps after a warm-up: once
with the trainer's automatic precision (bf16 autocast where the CPU has native bf16) and
once forced to fp32 as the baseline.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def measure(
    batch_size: int,
    steps: int = 24,
    warmup: int = 4,
    precision: Literal["auto", "bf16", "fp32"] = "auto",
) -> dict[str, Any]:
    from dataclasses import replace

    from retraining.candidates import to_examples
    from retraining.corpus_pairs import CorpusPairBuilder
    from retraining.trainer import PRESETS, train_candidate, uses_bf16
    from retrieval.corpus import SHIPPED_CORPUS
    from retrieval.corpus_view import load_corpus_from_file
    from retrieval.model_registry import base_model_path
    from retrieval.vocabulary import default_vocabulary

    prompts = load_corpus_from_file(SHIPPED_CORPUS)
    pairs = CorpusPairBuilder(default_vocabulary()).build(prompts, frozenset(), frozenset())
    examples = to_examples(pairs[: batch_size * (steps + 2)], prompts)
    stamps: list[float] = []
    config = replace(
        PRESETS["strategy"],
        batch_size=batch_size,
        max_steps=steps,
        average_with_start=0.0,
        precision=precision,
    )
    # the Trainer prints its log dicts to stdout; keep stdout for `promptbot bench --json`
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(sys.stderr):
        train_candidate(
            base_model_path(),
            base_model_path(),
            examples,
            config,
            Path(tmp) / "model",
            on_step=lambda step, _total: stamps.append(time.perf_counter()),
        )
    timed = stamps[warmup:]
    seconds = timed[-1] - timed[0]
    return {
        "pairs_per_second": batch_size * (len(timed) - 1) / seconds,
        "seconds_per_step": seconds / (len(timed) - 1),
        "precision": "bf16" if uses_bf16(config) else "fp32",
    }


def training_rows() -> list[dict[str, Any]]:
    from bench.speed import in_fresh_process, result_row

    served = in_fresh_process(measure, 16)
    fp32 = in_fresh_process(measure, 16, 24, 4, "fp32")
    return [
        result_row(
            "training, MNRL batch 16",
            served["pairs_per_second"],
            unit="pairs/s",
            target=30.0,
            higher_is_better=True,
            baseline_name="fp32",
            baseline_value=fp32["pairs_per_second"],
            note=f"{served['precision']} (auto), {served['seconds_per_step']:.2f} s/step; "
            "real trainer, corpus pairs",
        ),
    ]
