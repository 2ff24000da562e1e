"""Content ratings: parsing, ordering, and the age-restricted rule on both sides of each edge."""

from __future__ import annotations

import pytest

from storage.ratings import Rating, allowed_ratings, effective_ceiling, parse_rating


@pytest.mark.parametrize(
    ("raw", "rating"),
    [("general", Rating.GENERAL), (" Teen ", Rating.TEEN), ("MATURE", Rating.MATURE)],
)
def test_ratings_parse_whatever_the_case_and_spacing(raw: str, rating: Rating) -> None:
    assert parse_rating(raw) is rating


@pytest.mark.parametrize("raw", ["", "adult", "pg-13", 3, None, ["teen"]])
def test_anything_else_is_refused_naming_the_three(raw: object) -> None:
    with pytest.raises(ValueError, match="general, teen, mature"):
        parse_rating(raw)


def test_a_ceiling_allows_itself_and_everything_milder() -> None:
    assert allowed_ratings(Rating.GENERAL) == {Rating.GENERAL}
    assert allowed_ratings(Rating.TEEN) == {Rating.GENERAL, Rating.TEEN}
    assert allowed_ratings(Rating.MATURE) == set(Rating)


@pytest.mark.parametrize("ceiling", list(Rating))
def test_mature_only_ever_in_age_restricted_channels(ceiling: Rating) -> None:
    outside = effective_ceiling(ceiling, age_restricted_channel=False)
    inside = effective_ceiling(ceiling, age_restricted_channel=True)
    assert Rating.MATURE not in allowed_ratings(outside)
    assert inside is ceiling  # an age-restricted channel never widens the server's choice
    assert outside is (Rating.TEEN if ceiling is Rating.MATURE else ceiling)
