"""Each vote->pair rule on its own."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from retraining.corpus_pairs import CorpusPairBuilder
from retraining.vote_pairs import (
    NO_INFLUENCE_RULE,
    TWO_AGREEING_USERS,
    InfluenceRule,
    apply_daily_cap,
    build_vote_pairs,
    is_heldout_query,
    is_heldout_user,
    majority,
)
from retrieval.corpus_view import CorpusPrompt
from retrieval.vocabulary import default_vocabulary
from storage.repositories.votes import VoteView

T0 = datetime(2026, 3, 2, 9)
PROMPTS = [
    CorpusPrompt("p1", "Hoard", "A dragon counts coins.", ["Fantasy"], ["Greed"], "h1"),
    CorpusPrompt("p2", "Knock", "Something knocks at night.", ["Horror"], ["Fear"], "h2"),
    CorpusPrompt("p3", "Seas", "A sailor's last voyage.", ["Adventure"], ["Journey"], "h3"),
]
_ids = iter(range(1, 10_000))


def vote(
    query: str, prompt: str, value: int, user: str = "u1", at: datetime = T0, removed: bool = False
) -> VoteView:
    vid = next(_ids)
    return VoteView(
        vid, f"m{vid}", user, value, removed, prompt, query, 1, "base", None, None, at, at
    )


def build(votes, cap: int = 50, heldout: float = 0.0):  # type: ignore[no-untyped-def]
    builder = CorpusPairBuilder(default_vocabulary())
    return build_vote_pairs(votes, PROMPTS, builder, cap, heldout_fraction=heldout)


def test_thumbs_up_is_a_positive_pair() -> None:
    out = build([vote("dragon story", "p1", 1)])
    assert [(p.anchor, p.positive_id, p.negative_id) for p in out.train_pairs] == [
        ("dragon story", "p1", None)
    ]


def test_thumbs_down_becomes_negative_of_a_triple_with_a_voted_positive() -> None:
    out = build([vote("dragon story", "p1", 1, "u1"), vote("dragon story", "p2", -1, "u2")])
    assert [(p.positive_id, p.negative_id) for p in out.train_pairs] == [("p1", "p2")]


def test_thumbs_down_alone_uses_a_tag_positive_or_is_dropped() -> None:
    tagged = build([vote("horror", "p3", -1)])
    assert [(p.positive_id, p.negative_id, p.source) for p in tagged.train_pairs] == [
        ("p2", "p3", "vote_negative_tag_positive")
    ]
    untagged = build([vote("zzz qqq", "p3", -1)])
    assert untagged.train_pairs == []
    assert untagged.counts["negatives_without_positive"] == 1


def test_no_reaction_is_not_a_negative() -> None:
    # p2 and p3 were shown but nobody reacted: they appear nowhere
    out = build([vote("dragon story", "p1", 1)])
    assert all(p.negative_id is None for p in out.train_pairs)


def test_conflicting_votes_majority_and_ties_dropped() -> None:
    assert (
        majority([vote("q", "p1", 1, "a"), vote("q", "p1", 1, "b"), vote("q", "p1", -1, "c")])[
            0
        ].value
        == 1
    )
    out = build([vote("dragon story", "p1", 1, "a"), vote("dragon story", "p1", -1, "b")])
    assert out.train_pairs == [] and out.counts["conflict_ties_dropped"] == 1


def test_removed_votes_do_not_count() -> None:
    out = build([vote("dragon story", "p1", 1, removed=True)])
    assert out.train_pairs == [] and out.counts["removed_ignored"] == 1


def test_daily_cap_keeps_the_earliest_votes_per_user_per_day() -> None:
    spam = [vote(f"query {i}", "p1", 1, "spammer", T0 + timedelta(minutes=i)) for i in range(10)]
    other_day = [vote("query x", "p1", 1, "spammer", T0 + timedelta(days=1))]
    kept = apply_daily_cap(spam + other_day, daily_cap=3)
    assert [v.query for v in kept] == ["query 0", "query 1", "query 2", "query x"]
    assert build(spam, cap=3).counts["over_daily_cap"] == 7


def test_heldout_vote_slice_is_stable_by_query() -> None:
    votes = [vote(f"topic {i}", "p1", 1, f"u{i}") for i in range(200)]
    out = build(votes, heldout=0.2)
    held = {j.query for j in out.heldout}
    assert 20 <= len(held) <= 60
    assert held.isdisjoint({p.anchor for p in out.train_pairs})
    assert all(is_heldout_query(q, 0.2) for q in held)


def test_dataset_records_the_vote_id_range() -> None:
    votes = [vote("a b", "p1", 1), vote("c d", "p1", 1)]
    out = build(votes)
    assert (out.vote_id_min, out.vote_id_max) == (votes[0].vote_id, votes[1].vote_id)


def test_few_distinct_queries_still_hold_some_votes_out() -> None:
    votes = [vote("dragon story", "p1", 1, f"u{i}") for i in range(1)]
    votes += [
        vote("dragon story", f"p{i % 3 + 1}", 1 if i % 3 == 0 else -1, f"v{i}") for i in range(30)
    ]
    many = [vote("dragon story", "p1", 1, f"w{i}") for i in range(3)]
    out = build(votes + many, heldout=0.5)
    assert out.heldout, "with one query, the slice falls back to (query, prompt) pairs"
    assert {(j.query, j.prompt_id) for j in out.heldout}.isdisjoint(
        {(p.anchor, p.positive_id) for p in out.train_pairs}
    )


def build_with(votes, rule, excluded=frozenset(), heldout: float = 0.0):  # type: ignore[no-untyped-def]
    builder = CorpusPairBuilder(default_vocabulary())
    return build_vote_pairs(
        votes,
        PROMPTS,
        builder,
        50,
        heldout_fraction=heldout,
        excluded_guilds=excluded,
        influence=rule,
    )


def positives(out) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {(p.anchor, p.positive_id) for p in out.train_pairs}


RULE = InfluenceRule(min_agreeing_users=2, min_voters=3)


def test_one_user_repeating_a_vote_is_one_voice_and_cannot_outvote_two_users() -> None:
    spam = [vote("dragon story", "p2", 1, "mallory", T0 + timedelta(minutes=i)) for i in range(9)]
    honest = [vote("dragon story", "p2", -1, "u1"), vote("dragon story", "p2", -1, "u2")]
    honest += [vote("dragon story", "p1", 1, u) for u in ("u1", "u2", "u3")]
    without = build_with(spam + honest, NO_INFLUENCE_RULE)
    assert ("dragon story", "p2") in positives(without)  # 9 votes beat 2 without the rule
    with_rule = build_with(spam + honest, RULE)
    assert positives(with_rule) == {("dragon story", "p1")}
    assert [(p.positive_id, p.negative_id) for p in with_rule.train_pairs] == [("p1", "p2")]


def test_once_big_enough_a_judgment_needs_two_agreeing_users() -> None:
    lone = [vote("sea voyage", "p3", 1, "mallory")]
    agreed = [vote("dragon story", "p1", 1, u) for u in ("u1", "u2")]
    others = [vote("knock", "p2", 1, "u3")]
    out = build_with(lone + agreed + others, RULE)
    assert positives(out) == {("dragon story", "p1")}
    assert out.counts["judgments_of_one_user_dropped"] == 2
    small = build_with(lone + agreed[:1], RULE)  # two voters: below min_voters, one suffices
    assert positives(small) == {("sea voyage", "p3"), ("dragon story", "p1")}


def test_held_out_judgments_obey_the_rule_and_can_come_from_other_users() -> None:
    votes = [vote(f"dragon {i}", "p1", 1, u) for i in range(40) for u in ("u1", "u2", "u4")]
    votes += [vote(f"dragon {i}", "p3", 1, "eve") for i in range(40)]
    out = build_with(votes, RULE, heldout=0.5)
    assert out.heldout and {j.prompt_id for j in out.heldout} == {"p1"}  # eve alone: never

    split = InfluenceRule(min_agreeing_users=1, min_voters=1, heldout_user_fraction=0.5)
    assert [is_heldout_user(u, 0.5) for u in ("u1", "u2", "u4", "eve")] == [
        True,
        True,
        False,
        False,
    ]
    out = build_with(votes, split, heldout=0.5)
    assert out.counts["heldout_from_other_users"] == 1
    assert {j.prompt_id for j in out.heldout} == {"p1"}  # u1 and u2 judge only
    assert {p.positive_id for p in out.train_pairs} == {"p1", "p3"}  # u4 and eve train only
    assert all(is_heldout_query(j.query, 0.5) for j in out.heldout)
    assert not any(is_heldout_query(p.anchor, 0.5) for p in out.train_pairs)


def test_votes_of_servers_that_opted_out_never_become_pairs() -> None:
    kept = vote("dragon story", "p1", 1, "u1")
    opted_out = replace(vote("sea voyage", "p3", 1, "u2"), guild_id="g-out")
    elsewhere = replace(vote("knock", "p2", 1, "u3"), guild_id="g-in")
    out = build_with([kept, opted_out, elsewhere], NO_INFLUENCE_RULE, frozenset({"g-out"}))
    assert positives(out) == {("dragon story", "p1"), ("knock", "p2")}
    assert out.counts["server_opted_out"] == 1


SERVER_PROMPT = replace(
    CorpusPrompt("g1-p", "Wyrm", "A wyrm sleeps under the chapel.", ["Fantasy"], ["Faith"], "g1"),
    guild_id="g-in",
)


def test_votes_on_a_contributing_servers_own_prompt_become_pairs_with_its_text() -> None:
    builder = CorpusPairBuilder(default_vocabulary())
    votes = [replace(vote("chapel wyrm", "g1-p", 1, "u1"), guild_id="g-in")]
    without = build_vote_pairs(votes, PROMPTS, builder, 50, heldout_fraction=0.0)
    assert without.train_pairs == []  # a prompt the trainer has no text for is dropped
    out = build_vote_pairs(
        votes, PROMPTS, builder, 50, heldout_fraction=0.0, server_prompts=[SERVER_PROMPT]
    )
    assert positives(out) == {("chapel wyrm", "g1-p")}
    assert out.counts["server_prompt_pairs"] == 1


def test_a_server_prompt_never_stands_in_as_a_tag_positive() -> None:
    builder = CorpusPairBuilder(default_vocabulary())
    only_down = [replace(vote("fantasy", "p3", -1, "u1"), guild_id="g-in")]
    out = build_vote_pairs(
        only_down, PROMPTS, builder, 50, heldout_fraction=0.0, server_prompts=[SERVER_PROMPT]
    )
    assert {p.positive_id for p in out.train_pairs} == {"p1"}  # the shared fantasy prompt


def _votes_after_import(db, texts: dict[str, str]):  # type: ignore[no-untyped-def]
    """👍 by two users on p0 and p1 as first shown, then p0/p1 re-imported with ``texts``."""
    from storage.prompt_file import PromptRecord
    from storage.repositories import prompts, votes
    from tests.helpers.storage import add_prompts, add_versions, shown

    add_prompts(db, 2)
    add_versions(db)
    shown(db, ["m1", "m2"])
    with db.session() as s:
        for user in ("u1", "u2"):
            votes.record_vote(s, "m1", user, 1, T0)
            votes.record_vote(s, "m2", user, 1, T0)
    records = [
        PromptRecord(
            id=f"p{i}",
            text=texts[f"p{i}"],
            title=f"T{i}",
            genres=["Fantasy"],
            themes=["Grief", "Hope"] if i % 2 else ["Hope"],
        )
        for i in range(2)
    ]
    with db.session() as s:
        prompts.upsert_prompts(s, records, source="test", now=T0 + timedelta(1))
        return votes.list_votes(s)


def _pairs(views):  # type: ignore[no-untyped-def]
    corpus = [CorpusPrompt(p, "", "", ["Fantasy"], [], "h") for p in ("p0", "p1")]
    out = build_vote_pairs(views, corpus, CorpusPairBuilder(default_vocabulary()), 50, 0.0)
    return {(p.anchor, p.positive_id) for p in out.train_pairs}, out.counts


def test_votes_on_the_old_text_of_an_edited_prompt_never_train_the_new_text(db) -> None:  # type: ignore[no-untyped-def]
    views = _votes_after_import(db, {"p0": "an entirely new text", "p1": "prompt text 1"})
    assert {v.prompt_id for v in views if v.prompt_changed} == {"p0"}
    pairs, counts = _pairs(views)
    assert pairs == {("fantasy", "p1")}  # the unchanged prompt's votes still count
    assert counts["prompt_changed_since_vote"] == 2


def test_reimporting_identical_text_keeps_the_votes(db) -> None:  # type: ignore[no-untyped-def]
    views = _votes_after_import(db, {"p0": "prompt text 0", "p1": "prompt text 1"})
    assert not any(v.prompt_changed for v in views)
    pairs, counts = _pairs(views)
    assert pairs == {("fantasy", "p0"), ("fantasy", "p1")}
    assert counts["prompt_changed_since_vote"] == 0


def test_no_user_supplies_more_than_their_share_of_the_voices() -> None:
    """The default rule: one account voting on 200 queries gets 5% of the voices, not 50%;
    honest users' single-voice judgments all stand (the two-agreeing rule dropped them)."""
    honest = [vote(f"dragon {i}", "p1", 1, f"u{i % 40}") for i in range(200)]
    days = [T0 + timedelta(days=i // 40) for i in range(200)]  # within the daily cap
    hostile = [vote(f"sea voyage {i}", "p3", 1, "mallory", days[i]) for i in range(200)]
    out = build_with(honest + hostile, InfluenceRule())
    from_hostile = {a for a, _ in positives(out) if a.startswith("sea voyage")}
    assert len(positives(out)) - len(from_hostile) == 200
    assert len(from_hostile) <= 0.05 * len(positives(out))
    assert out.counts["voices_over_user_share"] == 200 - len(from_hostile)
    assert out.counts["judgments_of_one_user_dropped"] == 0
    old_rule = build_with(honest + hostile, TWO_AGREEING_USERS)
    assert positives(old_rule) == set()  # every judgment here had one voice
