"""The share cap on one user's contributions (retraining.influence)."""

from __future__ import annotations

from retraining.influence import effective_share, keep_within_share, per_user_limit


def test_nobody_over_the_share_keeps_everything() -> None:
    assert per_user_limit([10] * 40, 0.05) is None
    kept, dropped = keep_within_share({f"u{i}": list(range(10)) for i in range(40)}, 0.05)
    assert dropped == 0 and all(len(items) == 10 for items in kept.values())


def test_only_the_excess_of_a_user_over_the_share_is_dropped() -> None:
    items = {f"u{i}": [f"q{i}-{j}" for j in range(10)] for i in range(39)}
    items["mallory"] = [f"m{j}" for j in range(100)]
    kept, dropped = keep_within_share(items, 0.05)
    total = sum(len(v) for v in kept.values())
    assert len(kept["mallory"]) <= 0.05 * total < len(kept["mallory"]) + 1
    assert dropped == 100 - len(kept["mallory"])
    assert all(len(kept[f"u{i}"]) == 10 for i in range(39))  # the honest lose nothing
    again, _ = keep_within_share(dict(reversed(list(items.items()))), 0.05)
    assert again["mallory"] == kept["mallory"]  # a stable choice, not an order-dependent one
    assert kept["mallory"] != items["mallory"][: len(kept["mallory"])]  # spread, not earliest


def test_a_small_server_is_capped_at_twice_an_even_share() -> None:
    assert effective_share(0.05, 5) == 0.4
    assert effective_share(0.05, 100) == 0.05
    regular = {"a": list(range(30)), **{u: list(range(18)) for u in "bcde"}}  # a: 29%
    assert keep_within_share(regular, 0.05)[1] == 0
    flood = {"a": list(range(200)), **{u: list(range(10)) for u in "bcde"}}
    kept, _ = keep_within_share(flood, 0.05)
    assert len(kept["a"]) <= 0.4 * sum(len(v) for v in kept.values())
    assert all(len(kept[u]) == 10 for u in "bcde")


def test_a_share_of_one_or_a_lone_user_caps_nothing() -> None:
    assert per_user_limit([5, 500], 1.0) is None
    assert per_user_limit([500], 0.05) is None
    assert per_user_limit([], 0.05) is None
