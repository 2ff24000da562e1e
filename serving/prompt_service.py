"""The service layer behind `/prompt` and reactions, shared by the bot and the simulator.

``PromptService.serve`` validates keywords, picks the model (the champion, an experiment arm
for this user, or in interleave mode a team-drafted list from champion and candidate),
searches, and records the request with its results in one transaction.
``record_reaction`` turns a 👍/👎 on a result message into a vote, through a
:class:`serving.vote_writer.VoteWriter` that retries and queues what the database refuses.
Both take ``now`` so the simulator can run them on simulated time.

A server's own settings (serving.guild_settings) apply here, so every caller gets them: its
content ceiling (``mature`` only in age-restricted channels), its default and maximum count,
and whether its users join experiments (if not, they always get the champion).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from retrieval.corpus_view import CorpusPrompt
from retrieval.engine import Hit, Scope
from retrieval.vocabulary import normalize_query
from serving.arms import assign_arm, interleaved_share
from serving.guild_settings import GuildSettingsCache, ceiling_for
from serving.model_pool import EngineBuilding, ModelPool, ServingState
from serving.team_draft import credited_teams, draft_rng, team_draft
from serving.vote_writer import Reaction, VoteWriter
from storage.database import Database, utcnow
from storage.models import Arm, ExperimentMode
from storage.ratings import Rating
from storage.repositories.daily import record_daily_reaction
from storage.repositories.experiments import running_experiment
from storage.repositories.privacy import forgotten_voters, reaction_given_again, voter_digest
from storage.repositories.requests import ShownResult, attach_message, record_request
from storage.repositories.votes import VoteOutcome, record_vote, remove_vote

THUMBS = {"👍": 1, "👎": -1}
# skin-tone modifiers and the emoji variation selector: 👍🏽 is a 👍 (Discord sends the tone a
# user picked, and a user with a default tone set never sends the bare 👍 from the picker)
_EMOJI_VARIANTS = dict.fromkeys([0xFE0F, *range(0x1F3FB, 0x1F400)])


def thumb_value(emoji: str) -> int | None:
    """+1 for 👍, -1 for 👎, in any skin tone; None for every other emoji."""
    return THUMBS.get(emoji.translate(_EMOJI_VARIANTS))


class BadQueryError(ValueError):
    """Keywords we cannot search for; the message is shown to the user as is."""


@dataclass(frozen=True)
class ServedResult:
    result_id: int
    rank: int
    prompt: CorpusPrompt
    score: float
    model_version: str
    arm: Arm | None


@dataclass(frozen=True)
class ServedRequest:
    request_id: int
    query: str
    normalized: str
    model_version: str
    arm: Arm | None
    experiment_id: int | None
    results: list[ServedResult]
    latency_ms: float


def validate_keywords(raw: str, max_chars: int) -> str:
    if raw is None or not raw.strip():
        raise BadQueryError("Give me a few keywords, e.g. `/prompt fantasy dragons`.")
    if len(raw) > max_chars:
        raise BadQueryError(f"That's {len(raw)} characters; keep keywords under {max_chars}.")
    normalized = normalize_query(raw)
    if not normalized:
        raise BadQueryError("I need words to search for, not just punctuation or symbols.")
    return normalized


@dataclass(frozen=True)
class Assignment:
    """Which model answers a user: ``version`` (with ``rival`` when lists are interleaved)."""

    version: str
    arm: Arm | None = None  # champion / candidate (A/B), interleaved, or None (no experiment)
    experiment_id: int | None = None
    rival: str | None = None  # the champion, drafting against ``version`` in interleave mode


class PromptService:
    def __init__(
        self,
        db: Database,
        pool: ModelPool,
        max_keywords_chars: int = 200,
        clock: Callable[[], datetime] = utcnow,
        guild_settings: GuildSettingsCache | None = None,
        scopes: Callable[[str | None], Scope] | None = None,
    ) -> None:
        self.db = db
        self.pool = pool
        self.max_keywords_chars = max_keywords_chars
        self.clock = clock
        self.guild_settings = guild_settings or GuildSettingsCache(db)
        self.scopes = scopes
        #: retries vote writes and queues the ones the database keeps refusing
        self.votes = VoteWriter(self._write_reaction)

    def scope_for(self, guild_id: str | None) -> Scope:
        """What a search from ``guild_id`` (None: a DM or the CLI) may return: the shared
        corpus plus that server's own prompts (or only those, if the server chose so), never
        another server's."""
        return self.scopes(guild_id) if self.scopes is not None else Scope(guild_id)

    def _assign(self, user_id: str, join_experiments: bool = True) -> Assignment:
        state = self.pool.serving_state()
        assignment = self._experiment_assignment(state, user_id, join_experiments)
        if assignment.arm is None or self._arms_ready(assignment):
            return assignment
        return Assignment(state.serving_id)  # outside the experiment while its arm is built

    def _experiment_assignment(
        self, state: ServingState, user_id: str, join_experiments: bool
    ) -> Assignment:
        with self.db.session() as session:
            experiment = running_experiment(session)
            if experiment is None or state.fallback_reason:
                return Assignment(state.serving_id)
            if not join_experiments:  # the server opted out: always the champion
                return Assignment(experiment.champion_version_id)
            share = experiment.traffic_share
            if experiment.mode == ExperimentMode.INTERLEAVE:
                arm = assign_arm(experiment.id, user_id, interleaved_share(share))
                if arm != Arm.CANDIDATE:  # outside the share: the champion, no experiment
                    return Assignment(experiment.champion_version_id)
                return Assignment(
                    experiment.candidate_version_id,
                    Arm.INTERLEAVED,
                    experiment.id,
                    rival=experiment.champion_version_id,
                )
            if assign_arm(experiment.id, user_id, share) == Arm.CANDIDATE:
                return Assignment(experiment.candidate_version_id, Arm.CANDIDATE, experiment.id)
            return Assignment(experiment.champion_version_id, Arm.CHAMPION, experiment.id)

    def _arms_ready(self, assignment: Assignment) -> bool:
        """Loads the engines an experiment's assignment needs (the first request after an
        experiment starts builds the candidate's). While another request is building one,
        this user gets the champion outside the experiment instead of waiting for that build
        or starting a second one; nothing is then credited to either arm."""
        try:
            for version_id in (assignment.version, assignment.rival):
                if version_id is not None:
                    self.pool.engine(version_id, wait=False)
        except EngineBuilding:
            return False
        return True

    def _search(
        self,
        assignment: Assignment,
        user_id: str,
        normalized: str,
        k: int,
        genre: str | None,
        now: datetime,
        max_rating: Rating | None = None,
        scope: Scope | None = None,
    ) -> list[tuple[Hit, str, Arm | None]]:
        """(hit, model version, arm) per shown result; interleaved lists are team-drafted, and
        a result both models rank at the same place is stored as ``agreed`` (credited to neither)
        with its drafting model."""
        engine = self.pool.engine(assignment.version)
        hits = engine.search(normalized, k, genre=genre, max_rating=max_rating, scope=scope)
        if assignment.rival is None:
            return [(h, assignment.version, assignment.arm) for h in hits]
        assert assignment.experiment_id is not None
        rival_hits = self.pool.engine(assignment.rival).search(
            normalized, k, genre=genre, max_rating=max_rating, scope=scope
        )
        rng = draft_rng(assignment.experiment_id, user_id, normalized, now)
        version_of = {Arm.CHAMPION: assignment.rival, Arm.CANDIDATE: assignment.version}
        drafted = team_draft(rival_hits, hits, k, rng)
        return [
            (hit, version_of[team], arm)
            for hit, team, arm in credited_teams(rival_hits, hits, drafted)
        ]

    def serve(
        self,
        user_id: str,
        keywords: str,
        count: int | None = 1,
        genre: str | None = None,
        guild_id: str | None = None,
        channel_id: str | None = None,
        source: str = "discord",
        now: datetime | None = None,
        age_restricted: bool = False,
    ) -> ServedRequest:
        """Search and record; raises BadQueryError (nothing recorded) for unusable keywords.

        ``count`` None: the server's default count; any count is capped at the server's
        maximum. ``age_restricted``: the channel is marked NSFW by Discord (the only place a
        ``mature`` prompt may appear, and only if the server's ceiling allows it)."""
        started = time.perf_counter()
        now = now or self.clock()
        normalized = validate_keywords(keywords, self.max_keywords_chars)
        settings = self.guild_settings.get(guild_id)
        assignment = self._assign(user_id, settings.join_experiments)
        wanted = settings.default_count if count is None else count
        k = max(1, min(wanted, settings.max_count if guild_id is not None else 10))
        ceiling = ceiling_for(settings, age_restricted)
        scope = self.scope_for(guild_id)
        shown = self._search(assignment, user_id, normalized, k, genre, now, ceiling, scope)
        latency_ms = (time.perf_counter() - started) * 1000
        with self.db.session() as session:
            request = record_request(
                session,
                user_id=user_id,
                raw_query=keywords,
                normalized_query=normalized,
                model_version_id=assignment.version,
                now=now,
                guild_id=guild_id,
                channel_id=channel_id,
                genre_filter=genre,
                experiment_id=assignment.experiment_id,
                arm=assignment.arm,
                latency_ms=latency_ms,
                source=source,
                results=[ShownResult(h.prompt_id, h.score, v, arm) for h, v, arm in shown],
            )
            results = [
                ServedResult(r.id, r.rank, h.prompt, h.score, v, arm)
                for r, (h, v, arm) in zip(request.results, shown, strict=True)
            ]
            request_id = request.id
        return ServedRequest(
            request_id,
            keywords,
            normalized,
            assignment.version,
            assignment.arm,
            assignment.experiment_id,
            results,
            latency_ms,
        )

    def attach_message(self, result_id: int, message_id: str, channel_id: str) -> None:
        with self.db.session() as session:
            attach_message(session, result_id, message_id, channel_id)

    def record_reaction(
        self,
        message_id: str,
        user_id: str,
        emoji: str,
        added: bool,
        now: datetime | None = None,
        live: bool = True,
    ) -> VoteOutcome | None:
        """A 👍/👎 added or removed on a message; None for any other emoji.

        ``live`` False: a reaction read back from Discord after a restart. If its voter asked
        to be forgotten it is the old reaction, still standing, and is not recorded again; a
        live reaction by the same voter is a new choice and counts."""
        value = thumb_value(emoji)
        if value is None:
            return None
        reaction = Reaction(message_id, user_id, value, added, now or self.clock(), live)
        return self.votes.write(reaction)

    def catch_up_votes(self) -> int:
        """Store the votes earlier writes could not; returns how many were stored."""
        return self.votes.catch_up()

    def _write_reaction(self, reaction: Reaction) -> VoteOutcome:
        message_id, user_id, value, now = (
            reaction.message_id,
            reaction.user_id,
            reaction.value,
            reaction.at,
        )
        with self.db.session() as session:
            if (
                reaction.added
                and not reaction.live
                and voter_digest(user_id) in forgotten_voters(session, message_id)
            ):
                return VoteOutcome.UNCHANGED
            if reaction.added:
                if reaction.live:
                    reaction_given_again(session, message_id, user_id)
                outcome = record_vote(session, message_id, user_id, value, now)
            else:
                outcome = remove_vote(session, message_id, user_id, value, now)
            if outcome == VoteOutcome.NOT_A_RESULT:
                # maybe a daily post: feedback on the prompt, with no query to learn from
                record_daily_reaction(session, message_id, user_id, value, reaction.added, now)
            return outcome
