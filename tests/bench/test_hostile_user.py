"""The paired cap-against-off table pairs runs by share, seed and training seed only."""

from __future__ import annotations

from typing import Any

from bench.hostile_user import paired_table


def run(share: float, seed: int, rule: str, end: float, train_seed: int | None = 13) -> dict:
    row: dict[str, Any] = {
        "share": share,
        "seed": seed,
        "rule": rule,
        "end_ndcg5": end,
        "promoted": ["v1"] if end > 0.61 else [],
    }
    if train_seed is not None:
        row["train_seed"] = train_seed
    return row


def test_pairs_only_runs_of_the_same_share_seed_and_training_seed() -> None:
    rows = [
        run(0.01, 0, "cap", 0.650),
        run(0.01, 0, "off", 0.610),
        run(0.01, 1, "cap", 0.610),
        run(0.01, 1, "off", 0.680),
        run(0.01, 2, "cap", 0.700),  # no off run: left out
        run(0.01, 0, "off", 0.700, train_seed=14),  # another training seed, no cap: left out
        run(0.05, 0, "cap", 0.620),
        run(0.05, 0, "off", 0.620),
    ]
    lines = paired_table(rows).splitlines()[2:]
    assert lines == [
        "| 1% | 13 | 0, 1 | 0.650, 0.610 | 0.610, 0.680 | 1 / 1 | 1 / 0 / 1 | -0.015 |",
        "| 5% | 13 | 0 | 0.620 | 0.620 | 1 / 1 | 0 / 1 / 0 | +0.000 |",
    ]


def test_runs_from_before_the_training_seed_was_recorded_pair_as_the_default() -> None:
    rows = [run(0.2, 3, "cap", 0.672, train_seed=None), run(0.2, 3, "off", 0.610)]
    (line,) = paired_table(rows).splitlines()[2:]
    assert line.startswith("| 20% | 13 | 3 | 0.672 | 0.610 |")
