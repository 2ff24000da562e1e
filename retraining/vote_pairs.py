"""Votes -> training pairs, with documented rules.

1. 👍 on (query, prompt) is a positive pair; 👎 is a hard negative for that query.
2. A result nobody reacted to is not a negative: reactions are biased by position, and
   silence is not a judgment (Joachims et al.).
3. One user counts once per result (the votes table holds one row per (result, user));
   removed votes do not count.
4. Bot accounts never count (their reactions are ignored when they arrive).
5. A per-user daily cap: at most ``daily_cap`` votes per user per UTC day count (the
   earliest), so one enthusiast or spammer cannot steer the model.
6. Conflicting votes on the same (normalized query, prompt) are resolved by majority;
   ties are dropped.
7. A 👎 is used only inside a (query, positive, negative) triple, when the query has a
   positive — from votes, or from the corpus tags (a prompt whose genre or theme names
   appear in the query).
8. Votes are split into train and a held-out vote slice by a stable hash of the normalized
   query (default 20% held out), so the gate can test on queries the candidate never saw.
   With too few distinct queries for that to hold any out, the hash is taken over
   (query, prompt) instead, so the gate still has a slice to judge by.
9. Votes from servers that chose not to contribute (``/settings contribute_votes no``) are
   left out before anything else; they stay stored for that server's own statistics.
10. **No single voice decides** (:class:`InfluenceRule`, on by default): a user has one voice
    per (query, prompt), however often they ask and vote, and majorities count users, not
    votes; and no user supplies more than ``max_user_share`` (5%) of the dataset's voices
    (retraining.influence: only the excess of the user over it is dropped, by a stable
    hash, and the cap is never below twice an even share, so a small server's regulars keep
    all their votes). The cap is taken over train and held-out voices together, so it
    bounds what one user gives the gate as well as what they teach. Optionally, once the
    dataset has ``min_voters`` distinct voters, a judgment needs ``min_agreeing_users`` users
    on its side (1 by default: in the hostile-user runs, docs/results.md, requiring two
    dropped a tenth of the judgments, nearly all honest, and at 20% hostile votes cut the
    judgments on the hostile side no further than the cap, which drops no honest one).
    Optionally (``heldout_user_fraction`` > 0, off by default because it costs most of the
    held-out slice on a small server) the users are also split by a stable hash of their
    id, so the held-out votes come from other users than the training votes. The live
    experiment applies the same cap to the voted requests it decides on
    (retraining.interleaving, retraining.experiments).
11. **A vote judges the text it was cast on.** Each result stores the prompt's
    ``content_hash`` (title, text and tags) as shown; a vote whose prompt has been edited
    since (import of the id with new text, a server prompt edited) is left out and counted
    as ``prompt_changed_since_vote``, so a 👍 on the old text never trains the new one.
    Re-importing identical text keeps the hash, so it keeps the votes. Skipping, rather
    than training on the old text, is the simpler correct choice: the old text is no
    longer in the corpus, so there is nothing to serve it as.
12. A server's own prompts (``/prompts add``) train the shared model only through the votes
    of a server that contributes (rule 9): its members' 👍/👎 on them become pairs like any
    other, with the prompt's text; a server that opted out keeps its prompts and votes to
    itself. Nothing else about a server's prompts (their tags, their text alone) becomes a
    pair, so a server that adds prompts but whose members never vote teaches the model nothing.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from retraining.corpus_pairs import CorpusPairBuilder, Pair, tag_relevant
from retraining.influence import rows_within_share
from retrieval.corpus_view import CorpusPrompt
from storage.repositories.votes import VoteView

RULES_VERSION = 5  # 2: opt-outs, influence (9, 10); 3: edited prompts (11); 4: server prompts
# (12); 5: a cap on one user's share of the voices in place of two agreeing users (10)


@dataclass(frozen=True)
class InfluenceRule:
    """Rule 10 of the module docstring; ``enabled`` False restores rules 1-9 alone."""

    enabled: bool = True
    max_user_share: float = 0.05
    min_agreeing_users: int = 1
    min_voters: int = 20
    heldout_user_fraction: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "enabled": self.enabled,
            "max_user_share": self.max_user_share,
            "min_agreeing_users": self.min_agreeing_users,
            "min_voters": self.min_voters,
            "heldout_user_fraction": self.heldout_user_fraction,
        }


NO_INFLUENCE_RULE = InfluenceRule(enabled=False)
# The rule before version 5, kept to be measured against (bench/hostile_user.py --rule agree).
TWO_AGREEING_USERS = InfluenceRule(max_user_share=1.0, min_agreeing_users=2)


@dataclass(frozen=True)
class VoteJudgment:
    query: str
    prompt_id: str
    value: int  # +1 or -1 after the majority rule


@dataclass
class VotePairs:
    train_pairs: list[Pair]
    heldout: list[VoteJudgment]
    counts: dict[str, int] = field(default_factory=dict)
    vote_id_min: int | None = None
    vote_id_max: int | None = None


def apply_daily_cap(votes: Iterable[VoteView], daily_cap: int) -> list[VoteView]:
    used: Counter[tuple[str, object]] = Counter()
    kept = []
    for vote in sorted(votes, key=lambda v: (v.cast_at, v.vote_id)):
        key = (vote.user_id, vote.cast_at.date())
        if used[key] < daily_cap:
            used[key] += 1
            kept.append(vote)
    return kept


def majority(votes: Iterable[VoteView]) -> list[VoteJudgment]:
    tally: dict[tuple[str, str], int] = defaultdict(int)
    for vote in votes:
        tally[(vote.query, vote.prompt_id)] += vote.value
    return [VoteJudgment(q, p, 1 if s > 0 else -1) for (q, p), s in sorted(tally.items()) if s]


def user_majority(votes: Iterable[VoteView], min_agreeing: int) -> tuple[list[VoteJudgment], int]:
    """Rule 10's majority: each user's votes on one (query, prompt) count as one voice (the
    sign of their sum), a judgment takes the side of more users, and it stands only with at
    least ``min_agreeing`` users on that side. Returns (judgments, how many stood alone)."""
    voices: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for vote in votes:
        voices[(vote.query, vote.prompt_id)][vote.user_id] += vote.value
    judgments, too_few = [], 0
    for (query, prompt_id), by_user in sorted(voices.items()):
        up = sum(1 for total in by_user.values() if total > 0)
        down = sum(1 for total in by_user.values() if total < 0)
        if up == down:
            continue
        if max(up, down) < min_agreeing:
            too_few += 1
            continue
        judgments.append(VoteJudgment(query, prompt_id, 1 if up > down else -1))
    return judgments, too_few


def within_user_share(
    votes: list[VoteView], max_share: float, counts: Counter[str]
) -> list[VoteView]:
    """The votes left once no user holds more than ``max_share`` of the voices (one voice
    per user per (query, prompt)); counts the voices dropped as ``voices_over_user_share``."""
    kept, dropped = rows_within_share(
        votes,
        max_share,
        user=lambda v: v.user_id,
        unit=lambda v: (v.query, v.prompt_id),
        key="\0".join,
    )
    counts["voices_over_user_share"] = dropped
    return kept


def is_heldout_user(user_id: str, fraction: float) -> bool:
    digest = hashlib.sha256(f"heldout-user:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def is_heldout_query(query: str, fraction: float) -> bool:
    digest = hashlib.sha256(query.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def split_heldout(
    judgments: list[VoteJudgment], fraction: float
) -> tuple[list[VoteJudgment], list[VoteJudgment]]:
    def key(j: VoteJudgment) -> str:
        return j.query

    if fraction > 0 and not any(is_heldout_query(j.query, fraction) for j in judgments):

        def key(j: VoteJudgment) -> str:
            return f"{j.query}\0{j.prompt_id}"

    heldout = [j for j in judgments if is_heldout_query(key(j), fraction)]
    train = [j for j in judgments if not is_heldout_query(key(j), fraction)]
    return train, heldout


def build_vote_pairs(
    votes: Sequence[VoteView],
    prompts: Sequence[CorpusPrompt],
    builder: CorpusPairBuilder,
    daily_cap: int,
    heldout_fraction: float = 0.2,
    forbidden_anchors: frozenset[str] = frozenset(),
    excluded_guilds: frozenset[str] = frozenset(),
    influence: InfluenceRule = NO_INFLUENCE_RULE,
    server_prompts: Sequence[CorpusPrompt] = (),
) -> VotePairs:
    counts: Counter[str] = Counter(votes_in=len(votes))
    contributed = [v for v in votes if v.guild_id is None or v.guild_id not in excluded_guilds]
    counts["server_opted_out"] = len(votes) - len(contributed)
    current = [v for v in contributed if not v.prompt_changed]
    counts["prompt_changed_since_vote"] = len(contributed) - len(current)
    active = [v for v in current if not v.removed]
    counts["removed_ignored"] = len(current) - len(active)
    capped = apply_daily_cap(active, daily_cap)
    counts["over_daily_cap"] = len(active) - len(capped)
    # Votes may name a contributing server's own prompts (rule 12); tag positives and
    # everything else come from the shared corpus alone.
    known = {p.id: p for p in (*prompts, *server_prompts)}
    if influence.enabled:
        train, heldout = _judgments_under_influence_rule(
            capped, influence, heldout_fraction, counts
        )
        train = [j for j in train if j.prompt_id in known]
        heldout = [j for j in heldout if j.prompt_id in known]
    else:
        judgments = majority(capped)
        counts["conflict_ties_dropped"] = len({(v.query, v.prompt_id) for v in capped}) - len(
            judgments
        )
        judgments = [j for j in judgments if j.prompt_id in known]
        train, heldout = split_heldout(judgments, heldout_fraction)
    positives: dict[str, list[str]] = defaultdict(list)
    negatives: dict[str, list[str]] = defaultdict(list)
    for j in train:
        (positives if j.value > 0 else negatives)[j.query].append(j.prompt_id)

    pairs: list[Pair] = []
    for query in sorted(set(positives) | set(negatives)):
        if query in forbidden_anchors:
            counts["forbidden_anchor_dropped"] += 1
            continue
        pos = positives.get(query) or _tag_positives(query, prompts, builder, negatives[query])
        if not pos:
            counts["negatives_without_positive"] += len(negatives.get(query, []))
            continue
        neg = negatives.get(query, [])
        for i, positive_id in enumerate(pos):
            negative_id = neg[i % len(neg)] if neg else None
            source = "vote" if query in positives else "vote_negative_tag_positive"
            pairs.append(Pair(query, positive_id, source, negative_id))
    counts["vote_pairs"] = len(pairs)
    server_ids = {p.id for p in server_prompts}
    counts["server_prompt_pairs"] = sum(1 for p in pairs if p.positive_id in server_ids)
    counts["heldout_judgments"] = len(heldout)
    ids = [v.vote_id for v in votes]
    return VotePairs(pairs, heldout, dict(counts), min(ids, default=None), max(ids, default=None))


def _judgments_under_influence_rule(
    votes: list[VoteView], rule: InfluenceRule, heldout_fraction: float, counts: Counter[str]
) -> tuple[list[VoteJudgment], list[VoteJudgment]]:
    """(train, held-out) judgments: users split first (rule 10), then queries (rule 8) on
    each side, so no user's votes are on both sides."""
    votes = within_user_share(votes, rule.max_user_share, counts)
    voters = {v.user_id for v in votes}
    min_agreeing = rule.min_agreeing_users if len(voters) >= rule.min_voters else 1
    gate_users = {u for u in voters if is_heldout_user(u, rule.heldout_user_fraction)}
    # with no split asked for (or too few users to split), queries alone split the votes
    if not gate_users or gate_users == voters:
        judgments, alone = user_majority(votes, min_agreeing)
        counts["judgments_of_one_user_dropped"] = alone
        train, heldout = split_heldout(judgments, heldout_fraction)
        counts["heldout_from_other_users"] = 0
        return train, heldout
    train_votes = [v for v in votes if v.user_id not in gate_users]
    gate_votes = [v for v in votes if v.user_id in gate_users]
    train_judgments, alone_train = user_majority(train_votes, min_agreeing)
    gate_judgments, alone_gate = user_majority(gate_votes, min_agreeing)
    counts["judgments_of_one_user_dropped"] = alone_train + alone_gate
    train, _ = split_heldout(train_judgments, heldout_fraction)
    _, heldout = split_heldout(gate_judgments, heldout_fraction)
    counts["heldout_from_other_users"] = 1
    counts["gate_users"] = len(gate_users)
    return train, heldout


def _tag_positives(
    query: str,
    prompts: Sequence[CorpusPrompt],
    builder: CorpusPairBuilder,
    exclude: Sequence[str],
    limit: int = 2,
) -> list[str]:
    """Corpus prompts whose tags match the query: positives for a query that only got 👎."""
    words = set(query.split())
    matches = []
    for prompt in prompts:
        if prompt.id in exclude:
            continue
        names = {n for g in prompt.genres for n in builder.genre_names(g)}
        names |= {n for t in prompt.themes for n in builder.theme_names(t)}
        if words & names and tag_relevant(query, prompt, builder):
            matches.append(prompt.id)
            if len(matches) >= limit:
                break
    return matches
