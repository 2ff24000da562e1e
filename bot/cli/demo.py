"""The quick start: everything on embedded defaults, no Discord token, in a few minutes.

1. `init`: migrate SQLite under PROMPTBOT_HOME, import the shipped corpus, register the base.
2. A short training run on the corpus, promoted if it beats the base on the test split.
3. A few simulated days of users voting, with a retraining cycle, gate and experiment.
4. `search "fantasy dragons"` with the resulting champion, and what to run next.
"""

from __future__ import annotations

import time
from dataclasses import replace

from rich.panel import Panel
from rich.text import Text

from bot.cli.common import console, load_settings, styled


def run_demo(days: int, train_steps: int, sim_train_steps: int) -> None:
    from bot.cli.simulation_commands import simulation_table
    from retraining.candidates import corpus_training_set, make_candidate
    from retraining.corpus_training import corpus_pairs_for
    from retraining.promotion import promote_if_better
    from retraining.simulator import SimConfig, Simulation, write_outputs
    from retraining.trainer import PRESETS
    from retrieval.base_model import ensure_base_model
    from retrieval.corpus import SHIPPED_CORPUS, import_prompt_file
    from retrieval.corpus_view import load_corpus_from_db
    from retrieval.engine_builder import build_engine
    from retrieval.golden_set import load_golden_set
    from retrieval.model_registry import resolve_model
    from storage import migrations
    from storage.database import Database

    started = time.perf_counter()
    settings = load_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    console.rule("1/4 set up")
    migrations.upgrade(settings.resolved_database_url)
    db = Database(settings.resolved_database_url)
    report = import_prompt_file(db, SHIPPED_CORPUS)
    ensure_base_model(db, actor="promptbot demo")
    console.print(
        f"{report.counts.added + report.counts.updated + report.counts.unchanged} "
        f"prompts in {db.safe_url}"
    )

    console.rule(f"2/4 a short training run ({train_steps} steps)")
    prompts = load_corpus_from_db(db)
    golden = load_golden_set(prompts)
    config = replace(PRESETS["default"], max_steps=train_steps)
    pairs = corpus_pairs_for(config, prompts, golden, settings.cache_dir)
    start_model = resolve_model("base", db)
    trained = make_candidate(
        db,
        settings,
        corpus_training_set(db, pairs, prompts),
        start_model,
        golden,
        config,
        label="demo fine-tune",
    )
    decision = promote_if_better(db, settings, trained.version_id, golden, actor="promptbot demo")
    console.print(decision.message)

    console.rule(f"3/4 {days} simulated days of users voting")
    out = settings.home / "demo-simulation"
    sim_config = SimConfig(
        out=out,
        days=days,
        users=80,
        queries_per_day=150,
        cycle_every=max(1, days // 2),
        train_config=replace(PRESETS["default"], max_steps=sim_train_steps),
        replay_min_pairs=sim_train_steps * PRESETS["default"].batch_size // 2,
        experiment_min_votes=60,
    )
    sim = Simulation(sim_config, settings, progress=lambda m: console.print(f"  {m}"))
    summary = sim.run()
    write_outputs(summary, sim.days, out)
    console.print(simulation_table(summary))

    console.rule('4/4 promptbot search "fantasy dragons"')
    champion = resolve_model("champion", db)
    engine = build_engine(champion, prompts, settings.cache_dir, backend=settings.backend)
    for rank, hit in enumerate(engine.search("fantasy dragons", 3), start=1):
        console.print(
            Text.assemble(
                styled(f"{rank}. {hit.prompt.title}", "bold"),
                f" ({hit.score:.2f}) — ",
                styled(hit.prompt.text),
            )
        )

    minutes = (time.perf_counter() - started) / 60
    base_test = trained.metrics.golden.test.ndcg5
    console.print(
        Panel.fit(
            f"Done in {minutes:.1f} min.\n"
            f"- Database: {db.safe_url}; champion now: {champion.label}\n"
            f"- Short training run: {trained.version_id}, test NDCG@5 "
            f"{base_test if base_test is None else round(base_test, 3)} — {decision.message}\n"
            "- Simulation (its own database, starting from the base model): champion NDCG@5 "
            f"{summary['start_ndcg5']} -> {summary['end_ndcg5']}, "
            f"👍 rate {summary['start_thumbs_up_rate']} -> {summary['end_thumbs_up_rate']} "
            f"(plot: {out / 'thumbs_up_and_ndcg.png'})\n\n"
            "Next:\n"
            '  promptbot search "cozy mystery"         search with the champion\n'
            "  promptbot train                          the full fine-tune (about 7 min)\n"
            "  promptbot evaluate --out out/eval        compare base, champion, BM25, hybrid\n"
            "  promptbot simulate --days 14             the whole loop, two simulated weeks\n"
            "  DISCORD_TOKEN=... promptbot run          connect to Discord (see the README)",
            title="promptbot demo",
        )
    )
