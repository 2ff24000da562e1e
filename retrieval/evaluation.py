"""Offline evaluation: rank judged queries with several systems and compare their metrics.

A *ranker* maps a batch of queries to ranked prompt-id lists, so dense models, BM25 and hybrid
are scored by exactly the same code. Results are ``{system: {slice: {metric: value}}}``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from retrieval.corpus_view import CorpusPrompt
from retrieval.documents import DEFAULT_FORMAT
from retrieval.engine import Bm25Ranker, Scope, SearchEngine
from retrieval.eval_sets import JudgedQuery
from retrieval.metrics import METRIC_NAMES, aggregate

Ranker = Callable[[Sequence[str], int], list[list[str]]]
Results = dict[str, dict[str, dict[str, float]]]
HEADLINE = ("P@1", "P@3", "P@5", "MRR@10", "NDCG@5", "NDCG@10", "Recall@10")


def dense_ranker(engine: SearchEngine) -> Ranker:
    def rank(queries: Sequence[str], k: int) -> list[list[str]]:
        return [[h.prompt_id for h in hits] for hits in engine.search_many(list(queries), k)]

    return rank


NEW_PROMPTS_SERVER = "evaluation-server"


def new_prompts_ranker(engine: SearchEngine, new_prompts: Sequence[CorpusPrompt]) -> Ranker:
    """The "new prompts" setting: ``new_prompts`` join an engine built without them the way
    a server's own prompts do in production (embedded incrementally after the engine was
    built, owned by one server), and queries are searched from that server, so they see the
    shared corpus and the new prompts together."""
    added = [replace(p, guild_id=NEW_PROMPTS_SERVER) for p in new_prompts]
    served = engine.with_changes(added, set())
    scope = Scope(NEW_PROMPTS_SERVER)

    def rank(queries: Sequence[str], k: int) -> list[list[str]]:
        found = served.search_many(list(queries), k, scope=scope)
        return [[h.prompt_id for h in hits] for hits in found]

    return rank


def bm25_ranker(
    prompts: Sequence[CorpusPrompt], with_tags: bool, doc_format: str = DEFAULT_FORMAT
) -> Ranker:
    bm25 = Bm25Ranker(prompts, with_tags=with_tags, doc_format=doc_format)

    def rank(queries: Sequence[str], k: int) -> list[list[str]]:
        return [[h.prompt_id for h in bm25.search(q, k)] for q in queries]

    return rank


def evaluate_ranker(
    ranker: Ranker, queries: Sequence[JudgedQuery], k: int = 10
) -> dict[str, dict[str, float]]:
    ranked = ranker([q.query for q in queries], k)
    rankings = {q.qid: ids for q, ids in zip(queries, ranked, strict=True)}
    return aggregate(
        rankings, {q.qid: q.relevant for q in queries}, {q.qid: q.slice for q in queries}
    )


def evaluate_systems(
    rankers: dict[str, Ranker], queries: Sequence[JudgedQuery], k: int = 10
) -> Results:
    return {name: evaluate_ranker(ranker, queries, k) for name, ranker in rankers.items()}


@dataclass
class Setting:
    """One evaluation setting: a name, what is searched, and the judged queries."""

    name: str
    prompts: list[CorpusPrompt]
    queries: list[JudgedQuery]


def _fmt(value: float) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.3f}"


def results_table_rows(results: Results, slice_name: str = "all") -> list[list[str]]:
    rows = []
    for system, by_slice in results.items():
        metrics = by_slice.get(slice_name)
        if metrics is None:
            continue
        rows.append([system, *(_fmt(metrics[m]) for m in HEADLINE), str(int(metrics["n"]))])
    return rows


def slice_rows(results: Results, metric: str = "NDCG@5") -> tuple[list[str], list[list[str]]]:
    slices = sorted({s for by_slice in results.values() for s in by_slice if s != "all"})
    rows = [
        [system, *(_fmt(by_slice.get(s, {}).get(metric, float("nan"))) for s in slices)]
        for system, by_slice in results.items()
    ]
    return slices, rows


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def write_report(out_dir: Path, results_by_setting: dict[str, Results], title: str) -> list[Path]:
    """report.md, metrics.json and one PNG bar chart per setting."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(results_by_setting, indent=2))
    parts = [f"# {title}", ""]
    charts = []
    for setting, results in results_by_setting.items():
        parts += [
            f"## {setting}",
            "",
            markdown_table(["system", *HEADLINE, "queries"], results_table_rows(results)),
            "",
        ]
        slices, rows = slice_rows(results)
        if slices:
            parts += ["NDCG@5 by query slice:", "", markdown_table(["system", *slices], rows), ""]
        chart = out_dir / f"ndcg5_{_slug(setting)}.png"
        plot_results(results, chart, f"{setting}: NDCG@5 by slice")
        charts.append(chart)
        parts += [f"![{setting}]({chart.name})", ""]
    (out_dir / "report.md").write_text("\n".join(parts))
    return [out_dir / "report.md", out_dir / "metrics.json", *charts]


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")


def plot_results(results: Results, path: Path, title: str, metric: str = "NDCG@5") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    groups = ["all", *sorted({s for r in results.values() for s in r if s != "all"})]
    systems = list(results)
    width = 0.8 / max(1, len(systems))
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(groups)), 4))
    for i, system in enumerate(systems):
        values = [results[system].get(g, {}).get(metric, float("nan")) for g in groups]
        ax.bar(np.arange(len(groups)) + i * width, values, width, label=system)
    ax.set_xticks(np.arange(len(groups)) + width * (len(systems) - 1) / 2, groups)
    ax.set_ylabel(metric)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


__all__ = [
    "METRIC_NAMES",
    "Ranker",
    "Results",
    "Setting",
    "bm25_ranker",
    "dense_ranker",
    "evaluate_ranker",
    "evaluate_systems",
    "write_report",
]
