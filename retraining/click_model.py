"""A click model for simulated users: who reacts, and how.

Most users don't react. A result at rank r is looked at with probability ``react_prob *
position_bias(r)`` (a user mostly reads the first result); one who reacts gives 👍 to a result
graded relevant and 👎 to an irrelevant one, except that with probability ``noise`` the
reaction is flipped (misclicks, taste).
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class ClickModel:
    react_prob: float = 0.6
    position_decay: float = 0.7  # rank r is seen with probability decay ** (r - 1)
    noise: float = 0.1

    def position_bias(self, rank: int) -> float:
        return self.position_decay ** (rank - 1)

    def reaction(self, rank: int, grade: int, rng: random.Random) -> int | None:
        if rng.random() >= self.react_prob * self.position_bias(rank):
            return None
        liked = grade > 0
        if rng.random() < self.noise:
            liked = not liked
        return 1 if liked else -1
