"""A short simulation end to end: every decision path, the summary keys, the bad candidate."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from retraining.influence import effective_share
from retraining.simulator import (
    HOSTILE_USER as HOSTILE,
)
from retraining.simulator import (
    SimConfig,
    Simulation,
    daily_query_mix,
    write_outputs,
)
from retraining.vote_pairs import within_user_share
from retrieval.eval_sets import JudgedQuery
from storage.repositories.votes import VoteView
from storage.settings import Settings
from tests.helpers.charts import ChartRecorder
from tests.helpers.retraining import TINY_TRAINING

REQUIRED_KEYS = {
    "start_ndcg5",
    "end_ndcg5",
    "start_thumbs_up_rate",
    "end_thumbs_up_rate",
    "days",
    "decisions",
}


@pytest.fixture
def sim_files(small_corpus_file: Path, tmp_path: Path) -> tuple[Path, Path]:
    """Judged queries for the small corpus: genre words, relevant = prompts of that genre."""
    prompts = [json.loads(x) for x in small_corpus_file.read_text().splitlines()]
    genres = sorted({g for p in prompts for g in p["genres"]})
    queries = [
        {
            "qid": f"q{i}",
            "query": f"{genre.lower()} story",
            "slice": "genre_topic",
            "relevant": {p["id"]: 2 for p in prompts if genre in p["genres"]},
        }
        for i, genre in enumerate(genres)
    ]
    path = tmp_path / "queries.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in queries if q["relevant"]))
    return small_corpus_file, path


def run(cfg: SimConfig, settings: Settings) -> dict:  # type: ignore[type-arg]
    sim = Simulation(cfg, settings, progress=lambda _m: None)
    summary = sim.run()
    write_outputs(summary, sim.days, cfg.out)
    return summary


@pytest.mark.slow
def test_short_simulation_trains_gates_experiments_and_promotes(
    sim_files: tuple[Path, Path],
    tmp_path: Path,
    model_cache_dir: Path,
    weak_start_model: Path,
    drawn_charts: ChartRecorder,
) -> None:
    prompts, queries = sim_files
    cfg = SimConfig(
        out=tmp_path / "sim",
        prompts=prompts,
        queries=queries,
        days=4,
        users=30,
        queries_per_day=80,
        seed=1,
        cycle_every=2,
        train_config=TINY_TRAINING,
        start_model=str(weak_start_model),
        retrain_from="base",
        min_votes=30,
        experiment_min_votes=20,
        experiment_max_days=1.5,
        replay_min_pairs=40,
    )
    summary = run(cfg, Settings(home=tmp_path / "unused", cache_home=model_cache_dir, int8="off"))
    assert set(summary) >= REQUIRED_KEYS
    assert [d["day"] for d in summary["days"]] == [1, 2, 3, 4]
    day = summary["days"][0]
    assert {
        "day",
        "requests",
        "votes",
        "thumbs_up_rate",
        "champion_version",
        "champion_ndcg5",
    } <= set(day)
    assert day["requests"] == 80 and day["votes"] > 0
    assert sum(d["cycles"] for d in summary["days"]) == 2
    stages = {(d["stage"], d["decision"]) for d in summary["decisions"]}
    assert ("experiment", "promoted") in stages, summary["decisions"]
    assert summary["days"][-1]["champion_version"] != "start"
    assert summary["end_ndcg5"] > summary["start_ndcg5"]
    for d in summary["decisions"]:
        assert d["stage"] in ("gate", "experiment")
        assert d["decision"] in ("promoted", "rejected", "kept")
        assert d["reason"]
    assert json.loads((cfg.out / "summary.json").read_text())["days"] == summary["days"]
    chart = drawn_charts["thumbs_up_and_ndcg.png"]
    ndcg = [
        (d["day"], d["champion_ndcg5"])
        for d in summary["days"]
        if d.get("champion_ndcg5") is not None
    ]
    assert [(int(x), y) for x, y in chart.points("champion NDCG@5 (eval)")] == ndcg
    arms = {arm for d in summary["days"] for arm in d["thumbs_up_rate"]}
    assert arms, "no day recorded a thumbs-up rate"
    for arm in arms:
        drawn = [(int(x), y) for x, y in chart.points(f"thumbs-up rate: {arm}")]
        rates = [(d["day"], d["thumbs_up_rate"].get(arm)) for d in summary["days"]]
        assert drawn == [(day, rate) for day, rate in rates if rate is not None]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["ab", "interleave"])
def test_injected_bad_candidate_is_rejected_by_the_experiment(
    sim_files: tuple[Path, Path], tmp_path: Path, model_cache_dir: Path, mode: str
) -> None:
    prompts, queries = sim_files
    cfg = SimConfig(
        experiment_mode=mode,
        out=tmp_path / "bad",
        prompts=prompts,
        queries=queries,
        days=3,
        users=40,
        queries_per_day=120,
        seed=2,
        retrain=False,
        inject_bad_candidate=True,
        experiment_min_votes=30,
        end_when_decided=True,
    )
    summary = run(cfg, Settings(home=tmp_path / "unused", cache_home=model_cache_dir, int8="off"))
    assert summary["bad_candidate_promoted"] is False
    verdicts = [d for d in summary["decisions"] if d["candidate_version"] == "bad"]
    assert verdicts and verdicts[0]["decision"] == "rejected"
    assert 0 < verdicts[0]["hours_running"] < 3 * 24
    assert verdicts[0]["experiment_votes"] >= 30
    assert summary["days"][-1]["day"] == verdicts[0]["day"]  # ended with the verdict
    rates = summary["days"][0]["thumbs_up_rate"]
    assert rates["candidate"] < rates["champion"]


@pytest.mark.slow
def test_aa_experiment_runs_out_of_time_and_keeps_the_champion(
    sim_files: tuple[Path, Path], tmp_path: Path, model_cache_dir: Path
) -> None:
    """A/A runs to the time limit and keeps the champion."""
    prompts, queries = sim_files
    cfg = SimConfig(
        out=tmp_path / "aa",
        prompts=prompts,
        queries=queries,
        days=2,
        users=40,
        queries_per_day=40,
        seed=3,
        retrain=False,
        aa_test=True,
        experiment_min_votes=10_000,
        experiment_max_days=1.0,
    )
    summary = run(cfg, Settings(home=tmp_path / "unused", cache_home=model_cache_dir, int8="off"))
    assert summary["aa_candidate_promoted"] is False
    assert [d["decision"] for d in summary["decisions"]] == ["kept"]


def test_each_day_asks_every_query_about_equally_often() -> None:
    queries = [JudgedQuery(f"q{i}", f"query {i}", "theme", {"p": 1}) for i in range(7)]
    mix = daily_query_mix(queries, 30, seed=3)
    counts = [sum(q is x for x in mix) for q in queries]
    assert len(mix) == 30 and min(counts) == 4 and max(counts) == 5
    assert daily_query_mix(queries, 30, seed=3) == mix  # the same mix every day of a run
    assert daily_query_mix(queries, 30, seed=4) != mix
    few = daily_query_mix(queries, 3, seed=3)
    assert len({q.qid for q in few}) == 3


@pytest.mark.slow
def test_the_hostile_user_casts_their_share_upside_down(
    sim_files: tuple[Path, Path], tmp_path: Path, model_cache_dir: Path
) -> None:
    """The hostile user of bench/hostile_user.py: about the asked share of all votes, each
    one 👍 on the worst result shown or 👎 on the best (by the hidden judgments)."""
    from storage.repositories.votes import list_votes

    prompts, queries = sim_files
    cfg = SimConfig(
        out=tmp_path / "sim",
        prompts=prompts,
        queries=queries,
        days=2,
        users=60,  # enough voters for the cap (twice an even share at least) to be 5%
        queries_per_day=60,
        retrain=False,
        hostile_share=0.2,
        seed=3,
    )
    sim = Simulation(cfg, Settings(home=tmp_path / "u", cache_home=model_cache_dir, int8="off"))
    summary = sim.run()
    assert abs(summary["hostile_votes"] / summary["votes"] - 0.2) < 0.02
    judged = {q["query"]: q["relevant"] for q in map(json.loads, queries.read_text().splitlines())}
    with sim.db.session() as session:
        hostile = [v for v in list_votes(session) if v.user_id == HOSTILE]
    assert len(hostile) == summary["hostile_votes"]
    for v in hostile:
        grade = judged[v.query].get(v.prompt_id, 0)
        assert (v.value, grade) in ((1, 0), (-1, 2)), v  # up on irrelevant, down on relevant
    # what the cycle trains on: rule 10 keeps the account to its share, the honest near all
    with sim.db.session() as session:
        votes = list_votes(session)
    kept = within_user_share(votes, 0.05, Counter())
    share = effective_share(0.05, len({v.user_id for v in votes}))

    def voices(of: list[VoteView], hostile: bool) -> int:
        return len(
            {(v.user_id, v.query, v.prompt_id) for v in of if (v.user_id == HOSTILE) == hostile}
        )

    assert voices(votes, True) > share * (voices(votes, True) + voices(votes, False))
    assert voices(kept, False) >= 0.98 * voices(votes, False)  # a busy honest user may lose one
    assert 0 < voices(kept, True) <= share * (voices(kept, True) + voices(kept, False))
