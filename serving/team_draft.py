"""Team-draft interleaving: one list per request drafted from the champion's and the
candidate's rankings (Radlinski, Kurup & Joachims, "How does clickthrough data reflect
retrieval quality?", 2008).

Each round a fair coin picks which model drafts first; each model adds its best result not
already shown, and every result remembers the model ("team") that drafted it. A result both
rankings put at the same place is credited to neither (arm ``agreed``): it would be shown
there whichever model served, so a vote on it says nothing about which model is better. The
decision rule that reads the credit lives in ``retraining.interleaving``; this module is only
the request-time part, so serving needs nothing from retraining.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, TypeVar

from storage.models import Arm


class Ranked(Protocol):
    """Anything in a ranking: only its prompt id matters to the draft."""

    @property
    def prompt_id(self) -> str: ...


H = TypeVar("H", bound=Ranked)


def team_draft(
    champion: Sequence[H], candidate: Sequence[H], k: int, rng: random.Random
) -> list[tuple[H, Arm]]:
    """Up to ``k`` results drafted from both rankings, each with the team that drafted it."""
    rankings = {Arm.CHAMPION: list(champion), Arm.CANDIDATE: list(candidate)}
    picked: list[tuple[H, Arm]] = []
    shown: set[str] = set()
    team_size = {Arm.CHAMPION: 0, Arm.CANDIDATE: 0}

    def next_unshown(team: Arm) -> H | None:
        return next((h for h in rankings[team] if h.prompt_id not in shown), None)

    while len(picked) < k:
        if team_size[Arm.CHAMPION] != team_size[Arm.CANDIDATE]:
            order = sorted(team_size, key=team_size.__getitem__)  # the smaller team drafts
        elif rng.random() < 0.5:
            order = [Arm.CHAMPION, Arm.CANDIDATE]
        else:
            order = [Arm.CANDIDATE, Arm.CHAMPION]
        for team in order:  # a team whose ranking is used up lets the other draft
            hit = next_unshown(team)
            if hit is not None:
                break
        else:
            break
        picked.append((hit, team))
        shown.add(hit.prompt_id)
        team_size[team] += 1
    return picked


def credited_teams(
    champion: Sequence[H], candidate: Sequence[H], drafted: Sequence[tuple[H, Arm]]
) -> list[tuple[H, Arm, Arm]]:
    """(result, drafting team, credited arm): ``agreed`` where both rankings put the result
    at the same place."""
    pairs = zip(champion, candidate, strict=False)  # a shorter ranking agrees on nothing after it
    agreed = {c.prompt_id for c, d in pairs if c.prompt_id == d.prompt_id}
    return [(hit, team, Arm.AGREED if hit.prompt_id in agreed else team) for hit, team in drafted]


def draft_rng(experiment_id: int, user_id: str, query: str, now: datetime) -> random.Random:
    """The coin flips of one request: reproducible for the simulator, fresh per request."""
    key = f"{experiment_id}:{user_id}:{query}:{now.isoformat()}".encode()
    return random.Random(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))
