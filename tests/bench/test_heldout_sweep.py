"""The held-out sweep: which pairs it trains on, how it names runs and picks a winner."""

from __future__ import annotations

from bench.heldout_sweep import averaged_name, markdown, run_name, sample_pairs, winner
from retraining.corpus_pairs import Pair


def _metrics(train: float, test: float, heldout: float) -> dict:
    return {
        "train": {"all": {"NDCG@5": train}},
        "test": {"all": {"NDCG@5": test}},
        "heldout": {"all": {"NDCG@5": heldout}, "synonym": {"NDCG@5": heldout / 2}},
    }


def test_judged_queries_never_reach_the_sample_and_it_is_reproducible() -> None:
    pairs = [Pair(f"q{i}", f"p{i}", "judged" if i % 3 == 0 else "keyword") for i in range(30)]
    sample = sample_pairs(pairs, 10, seed=13)
    assert len(sample) == 10
    assert all(p.source != "judged" for p in sample)
    assert sample == sample_pairs(pairs, 10, seed=13)
    assert len(sample_pairs(pairs, 1000, seed=13)) == 20  # capped at what the pool holds
    assert sample_pairs(pairs, 1000, seed=13, without=("keyword",)) == []


def test_names_carry_every_knob() -> None:
    run = run_name("gist", 2000, 2e-5)
    assert run == "gist-2000p-lr2e-05"
    assert averaged_name(run, 0.3) == "gist-2000p-lr2e-05-avg0.3"
    assert (
        run_name("mnrl", 1000, 1e-5, 0.3, ("keyword",)) == "mnrl-1000p-lr1e-05-typo0.3-no_keyword"
    )


def test_the_winner_is_read_on_held_out_prompts_and_is_never_the_base() -> None:
    results = {
        "base": {"metrics": _metrics(0.9, 0.9, 0.9)},
        "a": {"metrics": _metrics(0.8, 0.7, 0.60)},  # best on test
        "b": {"metrics": _metrics(0.5, 0.5, 0.65)},  # best on held-out
    }
    assert winner(results) == "b"
    assert winner(results, "test") == "a"


def test_the_table_states_the_gain_over_the_base_and_the_verdict() -> None:
    results = {
        "base": {"metrics": _metrics(0.5, 0.5, 0.60)},
        "ft": {"metrics": _metrics(0.6, 0.6, 0.66), "train_seconds": 12.0},
    }
    table = markdown(results)
    assert "| ft | 0.600 | 0.600 | 0.660 | +0.060 | 0.330 | 12.0 |" in table
    assert "+0.060 over the base (target +0.05: reached)" in table
    results["ft"]["metrics"] = _metrics(0.6, 0.6, 0.64)
    assert "(target +0.05: not reached)" in markdown(results)
