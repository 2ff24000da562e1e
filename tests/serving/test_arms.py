"""Arm assignment: stable per user and experiment, split at the share."""

from __future__ import annotations

import pytest

from serving.arms import assign_arm, interleaved_share
from storage.models import Arm


def test_assignment_is_stable_and_splits_at_the_share() -> None:
    users = [str(10**17 + i) for i in range(20_000)]
    arms = [assign_arm(7, u, 0.3) for u in users]
    assert arms == [assign_arm(7, u, 0.3) for u in users]
    share = arms.count(Arm.CANDIDATE) / len(arms)
    assert share == pytest.approx(0.3, abs=0.015)
    # a new experiment reshuffles who is in which arm
    other = [assign_arm(8, u, 0.3) for u in users]
    assert sum(a != b for a, b in zip(arms, other, strict=True)) > 5_000


def test_arms_are_the_values_the_database_stores() -> None:
    assert {assign_arm(1, str(u), 0.5) for u in range(100)} == {"champion", "candidate"}


def test_interleaved_share_doubles_the_ab_share_up_to_everyone() -> None:
    """Half of an interleaved list is the candidate's, so twice the users see the same
    share of candidate results as an A/B test would show."""
    assert interleaved_share(0.1) == pytest.approx(0.2)
    assert interleaved_share(0.5) == 1.0
    assert interleaved_share(0.8) == 1.0
