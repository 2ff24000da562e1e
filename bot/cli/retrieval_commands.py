"""`promptbot search`, `evaluate`, `rank` and `bench`: using and measuring retrieval."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from bot.cli.common import console, fail, load_settings, open_database, print_json, styled

MODEL_HELP = "base, champion, candidate, a version id, or a model directory."


def register(app: typer.Typer) -> None:
    app.command("search")(search)
    app.command("evaluate")(evaluate)
    app.command("rank")(rank)
    app.command("bench")(bench)


def _optional_database(settings):  # type: ignore[no-untyped-def]
    """The database if it is set up; ``None`` lets base/path models work without one.

    A missing SQLite file is not created, and an unusable database counts as none (the
    commands that need one then say so through the model reference).
    """
    from storage.database import Database, DatabaseUnavailable, SchemaNotMigratedError

    try:
        db = Database(settings.resolved_database_url, must_exist=True)
    except DatabaseUnavailable:
        return None
    try:
        db.require_migrated()
    except (SchemaNotMigratedError, DatabaseUnavailable):
        db.dispose()
        return None
    return db


def _resolve(ref: str, db):  # type: ignore[no-untyped-def]
    from retrieval.model_registry import ModelNotFoundError, resolve_model
    from storage.repositories.model_versions import UnknownModelVersionError

    try:
        return resolve_model(ref, db)
    except (ModelNotFoundError, UnknownModelVersionError) as exc:
        fail(str(exc))


def search(
    keywords: str = typer.Argument(..., help="What you want a prompt about."),
    model: str = typer.Option("champion", "--model", "-m", help=MODEL_HELP),
    k: int = typer.Option(5, "-k", min=1, max=50, help="How many results."),
    genre: str | None = typer.Option(None, help="Only prompts of this genre."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Search the corpus and print the best prompts."""
    from retrieval.corpus_view import load_corpus_from_db
    from retrieval.engine_builder import build_engine
    from retrieval.vocabulary import default_vocabulary, normalize_query

    settings = load_settings()
    if not normalize_query(keywords):
        fail('give some keywords, e.g. promptbot search "fantasy dragons"')
    db = open_database(settings)
    ref = _resolve(model, db)
    prompts = load_corpus_from_db(db)
    if not prompts:
        fail("no prompts imported; run `promptbot init` first.")
    if genre:
        genre = _known_genre(genre, prompts, default_vocabulary())
    engine = build_engine(
        ref,
        prompts,
        settings.cache_dir,
        backend=settings.backend,
        approximate_above=settings.approximate_above,
        hybrid=settings.hybrid,
        typo_tolerance=settings.typo_tolerance,
        theme_weight=settings.theme_weight,
        show_progress=not as_json,  # embedding a new or much grown corpus takes a while
    )
    hits = engine.search(keywords, k, genre=genre)
    if as_json:
        print_json(
            [
                {
                    "rank": i,
                    "id": h.prompt.id,
                    "title": h.prompt.title,
                    "score": round(h.score, 4),
                    "genres": h.prompt.genres,
                    "themes": h.prompt.themes,
                    "text": h.prompt.text,
                    "model_version": ref.label,
                }
                for i, h in enumerate(hits, start=1)
            ]
        )
        return
    table = Table(title=f"{keywords!r} — model {ref.label}", show_lines=True)
    for column in ("#", "score", "prompt", "genres / themes"):
        table.add_column(column)
    for i, h in enumerate(hits, start=1):
        table.add_row(
            str(i),
            f"{h.score:.3f}",
            Text.assemble(styled(h.prompt.title, "bold"), "\n", styled(h.prompt.text)),
            ", ".join(h.prompt.genres) + "\n" + ", ".join(h.prompt.themes),
        )
    console.print(table)


def _known_genre(genre: str, prompts, vocabulary) -> str:  # type: ignore[no-untyped-def]
    """The genre's canonical name, or its spelling in the corpus; unknown genres fail."""
    canonical = vocabulary.canonical_genre(genre)
    if canonical:
        return canonical
    in_corpus = sorted({g for p in prompts for g in p.genres})
    match = next((g for g in in_corpus if g.casefold() == genre.strip().casefold()), None)
    if match:
        return match
    known = sorted(set(vocabulary.genres) | set(in_corpus))
    fail(f"unknown genre {genre!r}; known genres: {', '.join(known)}")


def evaluate(
    models: list[str] = typer.Option(
        None, "--model", "-m", help=f"Repeatable. {MODEL_HELP} Default: base and champion."
    ),
    prompts_file: Path | None = typer.Option(None, "--prompts", help="Prompt file (JSONL)."),
    queries_file: Path | None = typer.Option(None, "--queries", help="Judged query file (JSONL)."),
    baselines: bool = typer.Option(True, help="Also score BM25 (text, text+tags) and hybrid."),
    out: Path = typer.Option(Path("out/evaluation"), "--out", help="Where report.md etc. go."),
) -> None:
    """Compare models (and BM25/hybrid) on judged queries: table, report.md, metrics.json, PNG."""
    from retrieval.corpus_view import load_corpus_from_file
    from retrieval.engine_builder import build_engine
    from retrieval.eval_sets import load_queries, restrict_to
    from retrieval.evaluation import (
        HEADLINE,
        dense_ranker,
        evaluate_systems,
        new_prompts_ranker,
        results_table_rows,
        write_report,
    )
    from retrieval.golden_set import baseline_rankers, hybrid_ranker

    settings = load_settings()
    db = _optional_database(settings)
    refs = [_resolve(m, db) for m in (models or (["base", "champion"] if db else ["base"]))]
    refs = list({r.path.resolve(): r for r in refs}.values())
    settings_to_run = _evaluation_settings(
        prompts_file, queries_file, load_corpus_from_file, load_queries, restrict_to
    )
    results_by_setting = {}
    for name, (prompts, queries, new_ids) in settings_to_run.items():
        rankers = {}
        for ref in refs:
            if new_ids:  # built without the new prompts, which then arrive as a server's
                trained_on = [p for p in prompts if p.id not in new_ids]
                engine = build_engine(ref, trained_on, settings.cache_dir, backend=settings.backend)
                rankers[ref.label] = new_prompts_ranker(
                    engine, [p for p in prompts if p.id in new_ids]
                )
                continue
            engine = build_engine(ref, prompts, settings.cache_dir, backend=settings.backend)
            rankers[ref.label] = dense_ranker(engine)
        if baselines:
            rankers.update(baseline_rankers(prompts))
            rankers[f"hybrid ({refs[-1].label})"] = hybrid_ranker(
                refs[-1], prompts, settings.cache_dir
            )
        results = evaluate_systems(rankers, queries)
        results_by_setting[name] = results
        table = Table(title=f"{name}: {len(queries)} queries over {len(prompts)} prompts")
        for column in ("system", *HEADLINE, "n"):
            table.add_column(column, justify="right" if column != "system" else "left")
        for row in results_table_rows(results):
            table.add_row(*row)
        console.print(table)
    try:
        written = write_report(out, results_by_setting, "promptbot evaluation")
    except OSError as exc:
        fail(f"cannot write the report to {out}: {exc.strerror or exc}")
    console.print("wrote " + ", ".join(str(p) for p in written))


def _evaluation_settings(prompts_file, queries_file, load_corpus, load_queries, restrict_to):  # type: ignore[no-untyped-def]
    from retrieval.corpus import SHIPPED_CORPUS
    from retrieval.eval_sets import QUERIES_PATH, Split

    try:
        prompts = load_corpus(prompts_file or SHIPPED_CORPUS)
        queries = load_queries(queries_file or QUERIES_PATH)
    except (OSError, ValueError) as exc:
        fail(str(exc))
    known = {p.id for p in prompts}
    none: frozenset[str] = frozenset()
    if prompts_file or queries_file:
        return {"custom set": (prompts, restrict_to(queries, known), none)}
    split = Split.load()
    test = split.test_queries(queries)
    heldout = frozenset(split.heldout_prompts & known)
    # The held-out prompts (never trained on) play a server's own prompts, added after
    # training; the queries are those with at least one of them relevant.
    new_prompt_queries = [
        q for q in restrict_to(test, known) if any(pid in heldout for pid in q.relevant)
    ]
    return {
        "test split, whole corpus": (prompts, restrict_to(test, known), none),
        "test split, held-out prompts only": (
            [p for p in prompts if p.id in heldout],
            restrict_to(test, heldout),
            none,
        ),
        "new prompts: held-out prompts added as a server's after training": (
            prompts,
            new_prompt_queries,
            heldout,
        ),
    }


def rank(
    prompts_file: Path = typer.Option(..., "--prompts", exists=True, dir_okay=False),
    queries_file: Path = typer.Option(..., "--queries", exists=True, dir_okay=False),
    model: str = typer.Option("champion", "--model", "-m", help=MODEL_HELP),
    top_k: int = typer.Option(10, "--top-k", min=1, max=1000),
    out: Path = typer.Option(..., "--out", help="Output JSON: {qid: [prompt id, ...]}."),
) -> None:
    """Rank an external prompt file for an external query file; write qid -> ranked ids as JSON."""
    from retrieval.corpus_view import load_corpus_from_file
    from retrieval.engine_builder import build_engine
    from retrieval.eval_sets import load_queries

    settings = load_settings()
    db = _optional_database(settings)
    ref = _resolve(model, db)
    try:
        prompts = load_corpus_from_file(prompts_file)
        queries = load_queries(queries_file)
    except (OSError, ValueError) as exc:
        fail(str(exc))
    if not prompts:
        fail(f"{prompts_file} holds no prompts.")
    engine = build_engine(
        ref,
        prompts,
        settings.cache_dir,
        backend=settings.backend,
        approximate_above=settings.approximate_above,
        hybrid=settings.hybrid,
        typo_tolerance=settings.typo_tolerance,
        theme_weight=settings.theme_weight,
    )
    ranked = engine.search_many([q.query for q in queries], top_k)
    payload = {q.qid: [h.prompt_id for h in hits] for q, hits in zip(queries, ranked, strict=True)}
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(payload, indent=1))
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}")
    console.print(
        f"ranked {len(queries)} queries over {len(prompts)} prompts with {ref.label}; wrote {out}"
    )


def bench(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    quick: bool = typer.Option(False, help="200k instead of 1M vectors for the ANN row."),
    training: bool = typer.Option(True, "--training/--no-training", help="Time the trainer."),
) -> None:
    """Speed benchmarks, each next to a baseline measured in the same run."""
    import os
    import time

    from bench.speed import print_table, run_speed_benchmarks
    from bench.training_speed import training_rows

    started, load = time.perf_counter(), os.getloadavg()[0]
    rows = run_speed_benchmarks(quick=quick)
    if training:
        rows += training_rows()
    if as_json:
        print_json(rows)
        return
    print_table(
        rows,
        f"promptbot bench ({os.cpu_count()} CPUs, load {load:.2f}, "
        f"{time.perf_counter() - started:.0f} s{'; quick' if quick else ''})",
    )
