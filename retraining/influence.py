"""A cap on one user's share of what a decision is made from.

The training dataset, the gate's held-out votes and a live experiment's credit are each built
from many users' contributions: voices on (query, prompt) for the first two, voted requests
for the third. One account that supplies a large share of any of them steers it, whatever
each single contribution looks like. :func:`keep_within_share` keeps at most a fixed share
for every user and drops only the excess: an honest user far below the cap loses nothing,
which is where the older "two users must agree" rule spent most of its cost (on a simulated
server of 40 voters it dropped a tenth of the judgments, nearly all honest; docs/results.md,
"One hostile user").

The cap is never below twice an even share (``2 / users``): on a server with ten voters each
already supplies a tenth, and a 5% cap would drop its regulars' votes rather than bound an
outlier. Which contributions of a capped user are kept is decided by a stable hash of the
contribution, not by time, so the kept ones spread over the user's queries and the same
votes give the same dataset on every run.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, TypeVar

Item = TypeVar("Item", bound=Hashable)
Row = TypeVar("Row")


def effective_share(max_share: float, users: int) -> float:
    """The share one user may supply: ``max_share``, but never below twice an even share."""
    return max(max_share, 2.0 / users) if users else 1.0


def per_user_limit(sizes: Sequence[int], max_share: float) -> int | None:
    """The most items one user may keep so that no user holds more than the effective share
    of the items kept (computed on what is kept, as the excess is dropped); None when nobody
    is over it."""
    share = effective_share(max_share, len(sizes))
    if share >= 1.0 or not sizes:
        return None
    limit = max(sizes)
    while True:
        kept = sum(min(size, limit) for size in sizes)
        allowed = max(1, int(share * kept))
        if allowed >= limit:
            return None if limit == max(sizes) else limit
        limit = allowed


def keep_within_share(
    items_by_user: Mapping[str, Sequence[Item]],
    max_share: float,
    key: Callable[[Item], str] = str,
) -> tuple[dict[str, list[Item]], int]:
    """Each user's items, cut to :func:`per_user_limit` by a stable hash order of
    ``(user, key(item))``; returns (kept items per user, how many were dropped)."""
    limit = per_user_limit([len(items) for items in items_by_user.values()], max_share)
    if limit is None:
        return {user: list(items) for user, items in items_by_user.items()}, 0
    kept: dict[str, list[Item]] = {}
    dropped = 0
    for user, items in items_by_user.items():
        if len(items) <= limit:
            kept[user] = list(items)
            continue
        ordered = sorted(items, key=lambda item: _stable_rank(user, key(item)))
        kept[user] = ordered[:limit]
        dropped += len(items) - limit
    return kept, dropped


def rows_within_share(
    rows: Sequence[Row],
    max_share: float,
    user: Callable[[Row], str],
    unit: Callable[[Row], Any],
    key: Callable[[Any], str] = str,
) -> tuple[list[Row], int]:
    """The rows left once no user holds more than ``max_share`` of the distinct units (a
    voice, a voted request) the rows make up: :func:`keep_within_share` over each user's
    units, then the rows of the kept ones. Returns (rows, units dropped)."""
    units: dict[str, set[Any]] = defaultdict(set)
    for row in rows:
        units[user(row)].add(unit(row))
    kept, dropped = keep_within_share(
        {name: sorted(ids) for name, ids in units.items()}, max_share, key=key
    )
    if not dropped:
        return list(rows), 0
    allowed = {(name, one) for name, ids in kept.items() for one in ids}
    return [row for row in rows if (user(row), unit(row)) in allowed], dropped


def _stable_rank(user: str, item_key: str) -> bytes:
    return hashlib.sha256(f"influence:{user}\0{item_key}".encode()).digest()
