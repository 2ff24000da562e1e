"""Fine-tuning one candidate model: data, model, loss, arguments, trainer, save.

One story, every knob named in :class:`TrainConfig`. Two presets:

- ``strategy``: training to the end without averaging — MultipleNegativesRankingLoss,
  3 epochs, batch 16, learning rate 2e-5, 10% warm-up, AdamW, in-batch negatives only.
- ``default``: what measured best on prompts the model never saw (docs/results.md,
  "Fine-tuning presets"): MultipleNegativesRankingLoss over in-batch negatives at batch 32 for
  one epoch, then the weights averaged with the starting model (30% of it, LM-Cocktail style;
  the base model for `promptbot train`, the champion for a cycle that continues from it) to
  keep what it knew.
  GISTEmbedLoss and mined hard negatives are available (``loss="gist"``,
  ``hard_negatives=True``) but cost 2-3.5x per step on 2 CPU cores.

Artifacts are written under a temporary directory and moved into place only when complete.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    epochs: float = 1.0
    batch_size: int = 32
    learning_rate: float = 2e-5
    warmup_ratio: float = 0.1
    loss: Literal["mnrl", "gist"] = "mnrl"
    hard_negatives: bool = False  # mine negatives for corpus pairs (votes bring their own 👎)
    average_with_start: float = 0.3  # weight of the starting model in the final average
    max_steps: int = -1  # > 0 caps training (tests use a handful of steps)
    seed: int = 13
    threads: int | None = None
    pairs_per_prompt: int = 8
    typo_share: float = 0.0  # share of corpus pairs also trained with a misspelled anchor
    # "auto": bf16 mixed precision where the CPU has native bf16 (AVX512-BF16/AMX), else fp32
    precision: Literal["auto", "bf16", "fp32"] = "auto"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


PRECISIONS = ("auto", "bf16", "fp32")
PRESETS: dict[str, TrainConfig] = {
    "strategy": TrainConfig(
        epochs=3,
        batch_size=16,
        learning_rate=2e-5,
        warmup_ratio=0.1,
        loss="mnrl",
        hard_negatives=False,
        average_with_start=0.0,
    ),
    "default": TrainConfig(),
    # `promptbot train` from the base: the sweep's winner on held-out prompts (docs/results.md
    # "Held-out prompts: loss, pairs, typos, averaging"). GIST costs about 2.5x MNRL per step,
    # which the loop's frequent small vote datasets don't need, so they keep "default".
    "corpus": TrainConfig(loss="gist", typo_share=0.3, average_with_start=0.0),
}


@dataclass(frozen=True)
class TrainingExample:
    anchor: str
    positive: str
    negative: str | None = None


@dataclass
class TrainOutcome:
    model_dir: Path
    examples: int
    steps: int
    seconds: float
    final_loss: float | None
    config: TrainConfig
    loss_history: list[float] = field(default_factory=list)

    @property
    def pairs_per_second(self) -> float:
        return self.examples_seen / self.seconds if self.seconds else 0.0

    @property
    def examples_seen(self) -> int:
        return self.steps * self.config.batch_size


def uses_bf16(config: TrainConfig) -> bool:
    """Whether to train under bf16 autocast: only where the CPU computes bf16 natively.

    Measured on 2 AVX512-BF16 cores (MNRL, batch 16, corpus pairs): 15 pairs/s in fp32,
    26 in bf16. Without native support bf16 is emulated and slower than fp32.
    """
    if config.precision != "auto":
        return config.precision == "bf16"
    import torch

    probe = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    return bool(probe and probe())


def keep_freed_memory_for_reuse() -> None:
    """Stop glibc from returning each step's big activation buffers to the kernel.

    By default blocks above a (dynamic, at most 32 MiB) threshold are mmap'd and unmapped on
    free, so every step page-faults fresh zeroed memory: a fifth of training time was system
    time. A fixed high threshold and no trimming make freed blocks reusable (measured 30 ->
    32 pairs/s). A no-op where the C library is not glibc.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = libc.mallopt if libc is not None else None
    except (OSError, AttributeError):
        return
    if mallopt is None:
        return
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    mallopt(m_mmap_threshold, 32 * 1024 * 1024)
    mallopt(m_trim_threshold, 2**31 - 1)
    mallopt(m_top_pad, 256 * 1024 * 1024)


def _dataset(examples: Sequence[TrainingExample], with_negatives: bool, seed: int) -> Any:
    """A shuffled ``datasets.Dataset``; with negatives, rows lacking one get a random text
    that is not a positive for that anchor (all rows of a dataset need the same columns)."""
    from datasets import Dataset

    rng = random.Random(seed)
    positives_of: dict[str, set[str]] = {}
    for ex in examples:
        positives_of.setdefault(ex.anchor, set()).add(ex.positive)
    texts = sorted({ex.positive for ex in examples})
    rows: dict[str, list[str]] = {"anchor": [], "positive": []}
    if with_negatives:
        rows["negative"] = []
    for ex in examples:
        rows["anchor"].append(ex.anchor)
        rows["positive"].append(ex.positive)
        if with_negatives:
            negative = ex.negative
            for _ in range(20):
                if negative is not None:
                    break
                pick = rng.choice(texts)
                negative = None if pick in positives_of[ex.anchor] else pick
            rows["negative"].append(negative or "")
    return Dataset.from_dict(rows).shuffle(seed=seed)


def _loss(model: Any, config: TrainConfig, guide_dir: Path) -> Any:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import (
        GISTEmbedLoss,
        MultipleNegativesRankingLoss,
    )

    if config.loss == "gist":
        guide = SentenceTransformer(str(guide_dir), device="cpu")
        return GISTEmbedLoss(model, guide=guide)
    return MultipleNegativesRankingLoss(model)


def average_with(model: Any, other_dir: Path, weight_of_other: float) -> None:
    """In place: model <- (1 - w) * model + w * other (same architecture)."""
    import torch
    from sentence_transformers import SentenceTransformer

    other = SentenceTransformer(str(other_dir), device="cpu").state_dict()
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.dtype.is_floating_point and name in other:
                tensor.mul_(1 - weight_of_other).add_(other[name], alpha=weight_of_other)


@dataclass(frozen=True)
class TrainingJob:
    """Everything one training run needs; what a training runner is handed (in this process
    or, serialized, in a worker process: see :mod:`retraining.train_worker`)."""

    start_dir: Path
    base_dir: Path
    examples: Sequence[TrainingExample]
    config: TrainConfig
    out_dir: Path
    model_name: str = "promptbot"


def run_job(job: TrainingJob, on_step: Callable[[int, int], None] | None = None) -> TrainOutcome:
    return train_candidate(
        job.start_dir,
        job.base_dir,
        job.examples,
        job.config,
        job.out_dir,
        card_details={"name": job.model_name},
        on_step=on_step,
    )


def train_candidate(
    start_dir: Path,
    base_dir: Path,
    examples: Sequence[TrainingExample],
    config: TrainConfig,
    out_dir: Path,
    card_details: dict[str, Any] | None = None,
    on_step: Callable[[int, int], None] | None = None,
) -> TrainOutcome:
    """Fine-tune ``start_dir`` on ``examples`` and publish the model at ``out_dir``."""
    bf16 = prepare_torch(config)
    train_dataset = training_dataset(examples, config)
    model = load_start_model(start_dir)
    loss = _loss(model, config, base_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        losses: list[float] = []
        steps, seconds = fit(
            model,
            training_arguments(config, work / "checkpoints", bf16),
            train_dataset,
            loss,
            progress_callback(losses, on_step),
        )
        if config.average_with_start > 0:  # LM-Cocktail: keep what the starting model knew
            average_with(model, start_dir, config.average_with_start)
        name = (card_details or {}).get("name")
        save_and_publish(model, work / "final", out_dir, name)
        return TrainOutcome(
            model_dir=out_dir,
            examples=len(train_dataset),
            steps=steps,
            seconds=seconds,
            final_loss=losses[-1] if losses else None,
            config=config,
            loss_history=losses,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def prepare_torch(config: TrainConfig) -> bool:
    """Threads, allocator and seeds for a reproducible run; returns whether to use bf16."""
    import torch

    if config.threads:
        torch.set_num_threads(config.threads)
    keep_freed_memory_for_reuse()
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    return uses_bf16(config)


def training_dataset(examples: Sequence[TrainingExample], config: TrainConfig) -> Any:
    # negatives given with the examples (a 👎 from votes, or mined when hard_negatives is on)
    # are always used: ``hard_negatives`` decides whether corpus pairs get mined ones
    with_negatives = any(e.negative for e in examples)
    dataset = _dataset(examples, with_negatives, config.seed)
    if len(dataset) == 0:
        raise ValueError("no training examples")
    return dataset


def load_start_model(start_dir: Path) -> Any:
    """The model to fine-tune, with a model card that is written offline."""
    from sentence_transformers import SentenceTransformer, SentenceTransformerModelCardData

    card = SentenceTransformerModelCardData(
        language="en",
        license="apache-2.0",
        model_name="promptbot prompt retriever",
        local_files_only=True,
        generate_widget_examples=False,
    )
    return SentenceTransformer(str(start_dir), device="cpu", model_card_data=card)


def training_arguments(config: TrainConfig, checkpoints: Path, bf16: bool) -> Any:
    from sentence_transformers.sentence_transformer.training_args import (
        BatchSamplers,
        SentenceTransformerTrainingArguments,
    )

    return SentenceTransformerTrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_ratio,  # a float below 1 is a ratio in transformers 5
        # one fused kernel per step instead of a dozen passes over 22.7M parameters
        optim="adamw_torch_fused",
        # duplicates in a batch would be false negatives; the hashed variant precomputes row
        # hashes (the plain one re-reads dataset rows for every batch: quadratic, 3-5x slower)
        batch_sampler=BatchSamplers.NO_DUPLICATES_HASHED,
        seed=config.seed,
        data_seed=config.seed,
        use_cpu=True,
        bf16=bf16,  # autocast: bf16 matmuls, fp32 master weights and optimizer state
        logging_steps=10,
        save_strategy="steps",
        save_steps=200,
        save_total_limit=1,
        report_to="none",
        dataloader_num_workers=0,
        disable_tqdm=False,
    )


def progress_callback(losses: list[float], on_step: Callable[[int, int], None] | None) -> Any:
    """A trainer callback that appends each logged loss to ``losses`` and reports steps."""
    from transformers import TrainerCallback

    class Progress(TrainerCallback):  # type: ignore[misc]
        def on_log(self, _args, state, _control, logs=None, **_):  # type: ignore[no-untyped-def]
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))
                log.info("step %d/%d loss %.4f", state.global_step, state.max_steps, logs["loss"])

        def on_step_end(self, _args, state, _control, **_):  # type: ignore[no-untyped-def]
            if on_step:
                on_step(state.global_step, state.max_steps)

    return Progress()


def fit(model: Any, args: Any, dataset: Any, loss: Any, callback: Any) -> tuple[int, float]:
    """Train in place; returns (steps taken, seconds)."""
    from sentence_transformers import SentenceTransformerTrainer

    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=dataset, loss=loss, callbacks=[callback]
    )
    started = time.perf_counter()
    result = trainer.train()
    return result.global_step, time.perf_counter() - started


def save_and_publish(model: Any, staging: Path, out_dir: Path, name: str | None) -> None:
    """Save under ``staging`` (inside the work directory), then move into place at once."""
    if name:
        model.model_card_data.model_name = name
    model.save_pretrained(str(staging))
    _publish(staging, out_dir)


def _publish(src: Path, dst: Path) -> None:
    if dst.exists():
        raise FileExistsError(f"{dst} already exists; model versions are never overwritten")
    os.replace(src, dst)


def config_with_overrides(preset: str, **overrides: Any) -> TrainConfig:
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r} (choose from {', '.join(PRESETS)})")
    given = {k: v for k, v in overrides.items() if v is not None}
    if given.get("precision", "auto") not in PRECISIONS:
        raise ValueError(f"unknown precision {given['precision']!r} (choose from auto, bf16, fp32)")
    if not 0 <= given.get("typo_share", 0) <= 1:
        raise ValueError(f"typo share must be between 0 and 1, not {given['typo_share']}")
    return replace(PRESETS[preset], **given)
