"""`promptbot train`: fine-tune a candidate on the corpus, evaluate it, register it."""

from __future__ import annotations

import typer
from rich.table import Table

from bot.cli.common import console, fail, load_settings, open_database

METRIC_COLUMNS = ("P@1", "MRR@10", "NDCG@5", "NDCG@10")


def register(app: typer.Typer) -> None:
    app.command("train")(train)


def train(
    preset: str = typer.Option(
        "corpus", help="Named configuration: corpus (GIST + typo copies), default or strategy."
    ),
    epochs: float | None = typer.Option(None, help="Epochs (overrides the preset)."),
    batch_size: int | None = typer.Option(None, "--batch-size"),
    lr: float | None = typer.Option(None, "--lr", help="Learning rate."),
    warmup_ratio: float | None = typer.Option(None, "--warmup-ratio"),
    loss: str | None = typer.Option(None, help="mnrl or gist."),
    hard_negatives: bool | None = typer.Option(None, "--hard-negatives/--no-hard-negatives"),
    average_with_start: float | None = typer.Option(
        None, "--average-with-start", help="Weight of the starting model in a final average."
    ),
    max_steps: int | None = typer.Option(None, "--max-steps", help="Stop after N steps."),
    seed: int | None = typer.Option(None),
    pairs_per_prompt: int | None = typer.Option(None, "--pairs-per-prompt"),
    typo_share: float | None = typer.Option(
        None, "--typo-share", help="Share of pairs also trained with a misspelled anchor."
    ),
    precision: str | None = typer.Option(
        None, help="auto (bf16 where the CPU has it natively), bf16 or fp32."
    ),
    start: str = typer.Option("base", help="Model to fine-tune from (any --model value)."),
    promote: bool = typer.Option(False, help="Make it champion if it beats the champion."),
) -> None:
    """Fine-tune a candidate on the corpus, evaluate it on the test split, register it."""
    from retraining.candidates import corpus_training_set, make_candidate
    from retraining.corpus_training import corpus_pairs_for
    from retraining.promotion import promote_if_better
    from retraining.trainer import config_with_overrides
    from retrieval.corpus_view import load_corpus_from_db
    from retrieval.golden_set import load_golden_set
    from retrieval.model_registry import resolve_model

    settings = load_settings()
    db = open_database(settings)
    try:
        config = config_with_overrides(
            preset,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=lr,
            warmup_ratio=warmup_ratio,
            loss=loss,
            hard_negatives=hard_negatives,
            average_with_start=average_with_start,
            max_steps=max_steps,
            seed=seed,
            pairs_per_prompt=pairs_per_prompt,
            typo_share=typo_share,
            precision=precision,
        )
    except (ValueError, TypeError) as exc:
        fail(str(exc))
    prompts = load_corpus_from_db(db)
    if not prompts:
        fail("no prompts imported; run `promptbot init` first.")
    golden = load_golden_set(prompts)
    console.print(f"building training pairs ({preset} preset) ...")
    pairs = corpus_pairs_for(config, prompts, golden, settings.cache_dir)
    console.print(
        f"{len(pairs)} pairs from {len(prompts) - len(golden.split.heldout_prompts)} "
        "training prompts; training ..."
    )
    start_model = resolve_model(start, db)
    result = make_candidate(
        db,
        settings,
        corpus_training_set(db, pairs, prompts),
        start_model,
        golden,
        config,
        label=f"corpus fine-tune ({preset})",
    )
    table = Table(title=f"candidate {result.version_id}")
    table.add_column("setting")
    for metric in METRIC_COLUMNS:
        table.add_column(metric, justify="right")
    for setting, metrics in result.metrics.golden.settings().items():
        overall = metrics.overall
        if overall is None:
            table.add_row(setting, *["—"] * len(METRIC_COLUMNS))  # no judged queries here
            continue
        shown = overall.to_dict()
        table.add_row(setting, *(f"{shown[m]:.3f}" for m in METRIC_COLUMNS))
    console.print(table)
    console.print(
        f"trained {result.outcome.steps} steps in {result.outcome.seconds:.0f}s "
        f"({result.outcome.pairs_per_second:.1f} pairs/s)"
    )
    if promote:
        decision = promote_if_better(
            db, settings, result.version_id, golden, actor="promptbot train --promote"
        )
        console.print(decision.message)
    console.print(f"new version: {result.version_id}")
