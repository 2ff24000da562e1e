"""Content ratings: how strong a prompt is, and which ratings a place may be shown.

Three ratings, ordered: ``general`` (fit for anyone, children's servers included), ``teen``
(on-page death, killing, horror, menace: what a general-audience novel holds) and ``mature``
(explicit sex, graphic gore, self-harm, drug use). A prompt file may leave the rating out: it
then reads as ``general``, because files written before ratings existed were written for the
same all-ages bot, and whoever adds stronger material is the one who knows to mark it.

A server chooses a *ceiling* (default ``teen``); ``mature`` is only ever served in a channel
Discord marks age-restricted, whatever the ceiling says (:func:`effective_ceiling`).
"""

from __future__ import annotations

from enum import StrEnum


class Rating(StrEnum):
    GENERAL = "general"
    TEEN = "teen"
    MATURE = "mature"

    @property
    def level(self) -> int:
        return RATING_ORDER.index(self)


RATING_ORDER: tuple[Rating, ...] = (Rating.GENERAL, Rating.TEEN, Rating.MATURE)
DEFAULT_RATING = Rating.GENERAL  # a prompt without a rating
DEFAULT_CEILING = Rating.TEEN  # a server that chose nothing


def parse_rating(value: object) -> Rating:
    """A rating from what a file or a user gave; ValueError naming the allowed values."""
    if isinstance(value, str):
        try:
            return Rating(value.strip().lower())
        except ValueError:
            pass
    allowed = ", ".join(r.value for r in RATING_ORDER)
    raise ValueError(f"rating must be one of {allowed} (got {value!r})")


def effective_ceiling(ceiling: Rating, age_restricted_channel: bool) -> Rating:
    """The strongest rating a channel may be shown: the server's ceiling, but never
    ``mature`` outside an age-restricted (NSFW) channel."""
    if ceiling is Rating.MATURE and not age_restricted_channel:
        return Rating.TEEN
    return ceiling


def allowed_ratings(ceiling: Rating) -> frozenset[Rating]:
    """Every rating at or below ``ceiling``."""
    return frozenset(r for r in RATING_ORDER if r.level <= ceiling.level)
