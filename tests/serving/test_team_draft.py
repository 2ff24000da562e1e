"""Team-draft lists: each team's best unshown result in turn, a fair coin, agreed results."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from serving.team_draft import credited_teams, draft_rng, team_draft
from storage.models import Arm

CHAMPION, CANDIDATE, AGREED = Arm.CHAMPION, Arm.CANDIDATE, Arm.AGREED


@dataclass(frozen=True)
class Doc:
    prompt_id: str


def docs(*ids: str) -> list[Doc]:
    return [Doc(i) for i in ids]


def test_draft_takes_each_teams_best_unshown_result_in_turn() -> None:
    champion, candidate = docs("a", "b", "c", "d"), docs("b", "e", "a", "f")
    for seed in range(50):
        drafted = team_draft(champion, candidate, 4, random.Random(seed))
        ids = [d.prompt_id for d, _ in drafted]
        assert len(ids) == 4 == len(set(ids))
        teams = [t for _, t in drafted]
        assert abs(teams.count(CHAMPION) - teams.count(CANDIDATE)) <= 1
        for team, ranking in ((CHAMPION, champion), (CANDIDATE, candidate)):
            own = [d for d, t in drafted if t == team]
            # a team's picks keep its own order, and each was its best not yet shown
            assert own == sorted(own, key=ranking.index)
            for position, (doc, t) in enumerate(drafted):
                if t == team:
                    shown_before = {d.prompt_id for d, _ in drafted[:position]}
                    best = next(d for d in ranking if d.prompt_id not in shown_before)
                    assert doc == best


def test_first_pick_is_a_fair_coin_and_identical_rankings_keep_their_order() -> None:
    ranking = docs("a", "b", "c")
    first_teams = []
    for seed in range(2000):
        drafted = team_draft(ranking, ranking, 3, random.Random(seed))
        assert [d.prompt_id for d, _ in drafted] == ["a", "b", "c"]
        first_teams.append(drafted[0][1])
    assert first_teams.count(CANDIDATE) / 2000 == pytest.approx(0.5, abs=0.04)


def test_a_short_ranking_lets_the_other_team_fill_the_list() -> None:
    drafted = team_draft(docs("a"), docs("a", "b", "c"), 3, random.Random(0))
    assert [d.prompt_id for d, _ in drafted] == ["a", "b", "c"]
    assert team_draft(docs(), docs(), 3, random.Random(0)) == []


def test_results_both_rankings_put_at_the_same_place_are_agreed_and_keep_their_team() -> None:
    champion, candidate = docs("a", "b", "c"), docs("a", "c", "b")
    for seed in range(20):
        drafted = team_draft(champion, candidate, 3, random.Random(seed))
        credited = credited_teams(champion, candidate, drafted)
        assert [(d, t) for d, t, _ in credited] == drafted
        for doc, team, arm in credited:  # b and c swap places: the order is what differs
            assert arm == (AGREED if doc.prompt_id == "a" else team)
    identical = credited_teams(
        champion, champion, team_draft(champion, champion, 3, random.Random(0))
    )
    assert {arm for _, _, arm in identical} == {AGREED}


def test_teams_are_stored_as_the_arm_names_the_database_keeps() -> None:
    drafted = team_draft(docs("a", "b"), docs("c", "d"), 4, random.Random(1))
    assert {team for _, team in drafted} == {"champion", "candidate"}


def test_draft_coins_repeat_for_the_same_request_and_change_with_it() -> None:
    now = datetime(2026, 1, 1)

    def coins(experiment_id: int, user_id: str, at: datetime) -> list[float]:
        rng = draft_rng(experiment_id, user_id, "ghost", at)
        return [rng.random() for _ in range(5)]

    assert coins(1, "u", now) == coins(1, "u", now)
    assert coins(1, "u", now) != coins(1, "u", now + timedelta(seconds=1))
    assert coins(1, "u", now) != coins(2, "u", now)
    assert coins(1, "u", now) != coins(1, "v", now)
