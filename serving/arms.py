"""Which arm of a running experiment answers a user.

A user's arm is a stable hash of (experiment id, user id): the same user sees the same model
for the whole experiment, a new experiment reshuffles users, and the arms split traffic at the
configured share without storing any assignment.
"""

from __future__ import annotations

import hashlib

from storage.models import Arm


def assign_arm(experiment_id: int, user_id: str, share: float) -> Arm:
    """``candidate`` for about ``share`` of users, ``champion`` for the rest."""
    digest = hashlib.sha256(f"{experiment_id}:{user_id}".encode()).digest()
    unit = int.from_bytes(digest[:8], "big") / 2**64
    return Arm.CANDIDATE if unit < share else Arm.CHAMPION


def interleaved_share(share: float) -> float:
    """Share of users shown interleaved lists, so the candidate's share of shown results
    matches an A/B test at ``share``: half of each interleaved list is the candidate's."""
    return min(1.0, 2 * share)
