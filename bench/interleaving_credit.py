"""Which interleaved results should earn credit? Re-score stored experiments three ways.

    python -m bench.interleaving_credit RUN_DIR PROMPTS.jsonl [--experiments 1 2 3]

``RUN_DIR`` is one simulated run (``bench.simulation_runs ... --out``/<scenario-seed>, with
its ``home/sim.db`` and ``home/models``); ``PROMPTS.jsonl`` the prompt file it ran on. For
every interleaved experiment, both models' top k are recomputed for each request's query
(the drafting team of every shown result is in ``results.model_version_id``), and the mean
per-request credit difference is tested as the live rule does, with the credit given to:

- ``all``: every result, to the team that drafted it;
- ``unique``: only results one model alone had in its top k;
- ``not agreed``: every result except those both models rank at the same place (the rule
  `retraining/interleaving.py` uses).

Prints requests with votes, wins/losses, mean, z and the always-valid p on all the data
per rule (the live rule also keeps the smallest p seen while the experiment ran).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

from retraining.experiments import DecisionRule, mixture_lambda
from retraining.interleaving import NO_VOTES, InterleavingCounts, credit_variance
from retrieval.corpus_view import load_corpus_from_file
from retrieval.engine_builder import build_engine
from retrieval.model_registry import ModelRef, base_model_path
from storage.database import Database
from storage.models import ExperimentMode
from storage.repositories.experiments import interleaved_votes, list_experiments

Rule = Callable[[str, list[str], list[str]], bool]  # (prompt, champion top k, candidate top k)
RULES: dict[str, Rule] = {
    "all": lambda p, champ, cand: True,
    "unique": lambda p, champ, cand: not (p in champ and p in cand),
    "not agreed": lambda p, champ, cand: (
        not (p in champ and p in cand and champ.index(p) == cand.index(p))
    ),
}


def top_k(run: Path, version: str, prompts, queries: list[str], k: int) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    path = base_model_path() if version == "base" else run / "home" / "models" / version
    engine = build_engine(ModelRef(version, path), prompts, run / "bench-cache")
    hits = engine.search_many(queries, k)
    return {q: [h.prompt.id for h in hs] for q, hs in zip(queries, hits, strict=True)}


def score(
    votes: list[tuple[int, int, str, str]],
    rule: Rule,
    champion_top: dict[str, list[str]],
    candidate_top: dict[str, list[str]],
) -> str:
    """votes: (request, value signed by the drafting team, prompt, query). The mean credit
    difference is tested with the live rule's variance and mixing scale."""
    credit: dict[int, int] = {}
    for request_id, signed, prompt_id, query in votes:
        credit.setdefault(request_id, 0)
        if rule(prompt_id, champion_top[query], candidate_top[query]):
            credit[request_id] += signed
    counts = InterleavingCounts.from_credit(list(credit.values()), NO_VOTES, NO_VOTES)
    n = counts.requests
    mean, variance = counts.credit_sum / n, credit_variance(counts) / n
    z = mean / math.sqrt(variance) if variance else float("nan")
    p = min(1.0, 1 / mixture_lambda(mean, variance, DecisionRule().tau))
    return (
        f"n {n:5d}  won {counts.wins:4d} lost {counts.losses:4d}  mean {mean:+.4f}  "
        f"z {z:5.2f}  p {p:.4f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("prompts", type=Path)
    parser.add_argument("--experiments", type=int, nargs="*")
    parser.add_argument("--k", type=int, default=3)
    args = parser.parse_args()
    db = Database(f"sqlite:///{args.run / 'home' / 'sim.db'}")
    prompts = load_corpus_from_file(args.prompts)
    with db.session() as session:
        experiments = [
            (e.id, e.champion_version_id, e.candidate_version_id)
            for e in list_experiments(session, mode=ExperimentMode.INTERLEAVE)
            if not args.experiments or e.id in args.experiments
        ]
    for experiment_id, champion, candidate in experiments:
        with db.session() as session:
            rows = interleaved_votes(session, experiment_id)
        if not rows:
            continue
        queries = sorted({r.query for r in rows})
        tops = {v: top_k(args.run, v, prompts, queries, args.k) for v in (champion, candidate)}
        votes = [
            (
                r.request_id,
                (1 if r.model_version_id == candidate else -1) * r.value,
                r.prompt_id,
                r.query,
            )
            for r in rows
        ]
        print(f"experiment {experiment_id}: {champion} vs {candidate}, {len(votes)} votes")
        for name, rule in RULES.items():
            print(f"  {name:11s} {score(votes, rule, tops[champion], tops[candidate])}")


if __name__ == "__main__":
    main()
