"""SQLAlchemy 2.0 typed models: the whole schema (created by Alembic migrations).

Times are stored as naive UTC ``DateTime`` so SQLite and PostgreSQL behave alike; every
writer passes ``now`` explicitly, which lets the simulator run on simulated time.
Discord snowflakes are stored as strings, exactly as given.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    Unicode,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[str]: JSON}


class ModelStatus(StrEnum):
    BASE = "base"
    CANDIDATE = "candidate"
    CHAMPION = "champion"
    RETIRED = "retired"
    REJECTED = "rejected"


class TrainingRunStatus(StrEnum):
    """``TrainingRun.status``: a retraining cycle while it runs and how it ended."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"  # a version was registered (as candidate or rejected)
    FAILED = "failed"
    SKIPPED = "skipped"  # nothing to do, or another cycle holds the lease


class ExperimentStatus(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"


class ExperimentDecision(StrEnum):
    """How an experiment ended: its candidate became champion, lost, or the champion stayed
    without a verdict (time ran out, an admin stopped it, or the champion changed under it)."""

    PROMOTED = "promoted"
    REJECTED = "rejected"
    KEPT = "kept"


class ExperimentMode(StrEnum):
    """``ab``: each user sees one arm's list; ``interleave``: one list drafted from both."""

    AB = "ab"
    INTERLEAVE = "interleave"


class Arm(StrEnum):
    """``Request.arm`` and ``Result.arm``: which side of an experiment served a request or a
    result. The values are stored, so they never change; a StrEnum compares and hashes as its
    value, so arms read back from the database as plain strings still match the members."""

    CHAMPION = "champion"
    CANDIDATE = "candidate"
    INTERLEAVED = "interleaved"  # Request.arm of an interleaved request; results carry the team
    AGREED = "agreed"  # Result.arm of a result both models rank at the same place


class Prompt(Base):
    __tablename__ = "prompts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str] = mapped_column(Text)
    genres: Mapped[list[str]] = mapped_column(default=list)
    themes: Mapped[list[str]] = mapped_column(default=list)
    source: Mapped[str] = mapped_column(String(200), default="")
    content_hash: Mapped[str] = mapped_column(String(64))
    # storage.ratings.Rating; not in content_hash, which keys the embeddings
    rating: Mapped[str] = mapped_column(String(16), default="general", server_default="general")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    # Scope: NULL is the shared corpus; otherwise the one server that owns the prompt.
    guild_id: Mapped[str | None] = mapped_column(String(32), index=True)
    local_id: Mapped[str | None] = mapped_column(String(64))  # the server's own id for it
    added_by: Mapped[str | None] = mapped_column(String(32))
    # Removed prompts keep their row (votes point at them) and are never served again.
    removed_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (UniqueConstraint("guild_id", "local_id", name="uq_prompts_guild_local"),)


class ModelVersion(Base):
    __tablename__ = "model_versions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    artifact_path: Mapped[str] = mapped_column(Text)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("model_versions.id"))
    status: Mapped[str] = mapped_column(String(16), index=True)
    status_reason: Mapped[str] = mapped_column(Text, default="")
    hyperparams: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("training_datasets.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    promoted_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (
        # At most one champion at any time, enforced by the database itself.
        Index(
            "uq_model_versions_one_champion",
            "status",
            unique=True,
            sqlite_where=text("status = 'champion'"),
            postgresql_where=text("status = 'champion'"),
        ),
    )


class ChampionChange(Base):
    """Append-only history of who served when: rollback walks it backwards."""

    __tablename__ = "champion_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id"))
    previous_version_id: Mapped[str | None] = mapped_column(ForeignKey("model_versions.id"))
    action: Mapped[str] = mapped_column(String(32))  # init / promote / rollback / experiment
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(DateTime, index=True)


class TrainingDataset(Base):
    __tablename__ = "training_datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    vote_id_min: Mapped[int | None] = mapped_column(Integer)
    vote_id_max: Mapped[int | None] = mapped_column(Integer)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    rules: Mapped[dict[str, Any]] = mapped_column(default=dict)

    pairs: Mapped[list[TrainingPair]] = relationship(
        back_populates="dataset", cascade="all, delete-orphan"
    )


class TrainingPair(Base):
    __tablename__ = "training_pairs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("training_datasets.id", ondelete="CASCADE"), index=True
    )
    anchor: Mapped[str] = mapped_column(Text)
    positive_id: Mapped[str] = mapped_column(ForeignKey("prompts.id"))
    negative_id: Mapped[str | None] = mapped_column(ForeignKey("prompts.id"))
    source: Mapped[str] = mapped_column(String(32))  # vote / corpus

    dataset: Mapped[TrainingDataset] = relationship(back_populates="pairs")


class Request(Base):
    """One ``/prompt`` (or simulated/CLI search) and who asked it."""

    __tablename__ = "requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(32), index=True)
    guild_id: Mapped[str | None] = mapped_column(String(32), index=True)
    channel_id: Mapped[str | None] = mapped_column(String(32))
    raw_query: Mapped[str] = mapped_column(Text)
    normalized_query: Mapped[str] = mapped_column(Text)
    genre_filter: Mapped[str | None] = mapped_column(String(64))
    model_version_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id"))
    experiment_id: Mapped[int | None] = mapped_column(ForeignKey("experiments.id"))
    arm: Mapped[str | None] = mapped_column(String(16))
    latency_ms: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16), default="discord")
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)

    results: Mapped[list[Result]] = relationship(
        back_populates="request", order_by="Result.rank", cascade="all, delete-orphan"
    )


class Result(Base):
    """One prompt shown for a request; a Discord message shows exactly one result."""

    __tablename__ = "results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"))
    rank: Mapped[int] = mapped_column(Integer)
    prompt_id: Mapped[str] = mapped_column(ForeignKey("prompts.id"))
    score: Mapped[float] = mapped_column(Float)
    model_version_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id"))
    arm: Mapped[str | None] = mapped_column(String(16))
    message_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    channel_id: Mapped[str | None] = mapped_column(String(32))
    # The prompt's content_hash when it was shown: a vote judges that text, so once the
    # prompt is edited (the hash changes) its votes no longer become training pairs.
    prompt_content_hash: Mapped[str] = mapped_column(String(64))
    prompt: Mapped[Prompt] = relationship()

    request: Mapped[Request] = relationship(back_populates="results")
    votes: Mapped[list[Vote]] = relationship(back_populates="result")

    __table_args__ = (UniqueConstraint("request_id", "rank", name="uq_results_request_rank"),)


class Vote(Base):
    """A user's current reaction on one result: +1 or -1, or removed (``removed_at`` set)."""

    __tablename__ = "votes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("results.id", ondelete="CASCADE"))
    voter_id: Mapped[str] = mapped_column(String(32))
    value: Mapped[int] = mapped_column(Integer)
    cast_at: Mapped[datetime] = mapped_column(DateTime)
    changed_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    removed_at: Mapped[datetime | None] = mapped_column(DateTime)

    result: Mapped[Result] = relationship(back_populates="votes")

    __table_args__ = (
        UniqueConstraint("result_id", "voter_id", name="uq_votes_result_voter"),
        Index("ix_votes_cast_at", "cast_at"),
    )


class TrainingRun(Base):
    __tablename__ = "training_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # TrainingRunStatus
    trigger: Mapped[str] = mapped_column(String(32), default="manual")
    reason: Mapped[str] = mapped_column(Text, default="")
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("training_datasets.id"))
    start_version_id: Mapped[str | None] = mapped_column(ForeignKey("model_versions.id"))
    candidate_version_id: Mapped[str | None] = mapped_column(ForeignKey("model_versions.id"))
    pair_counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    timings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)


class Experiment(Base):
    __tablename__ = "experiments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    champion_version_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id"))
    candidate_version_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id"))
    traffic_share: Mapped[float] = mapped_column(Float)
    mode: Mapped[str] = mapped_column(String(16), default=ExperimentMode.AB.value)
    status: Mapped[str] = mapped_column(String(16), index=True)  # ExperimentStatus
    decision: Mapped[str | None] = mapped_column(String(16))  # ExperimentDecision
    reason: Mapped[str] = mapped_column(Text, default="")
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    started_at: Mapped[datetime] = mapped_column(DateTime)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200), default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Lease(Base):
    """A named lock with an expiry, shared by every process on the database."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)


class GatewayPresence(Base):
    """When a gateway shard last handled an event (bumped at most every few seconds): after a
    restart, the start of the time it was away, so catching up reads only what it missed."""

    __tablename__ = "gateway_presence"

    shard: Mapped[str] = mapped_column(String(32), primary_key=True)  # "id/count", e.g. "0/2"
    last_event_at: Mapped[datetime] = mapped_column(DateTime)


class ReconcileProgress(Base):
    """How far catching up on one channel's reactions got: a scan cut short (request budget,
    restart) leaves the id of the last message it read, where the next scan starts."""

    __tablename__ = "reconcile_progress"

    channel_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    cursor_message_id: Mapped[str | None] = mapped_column(String(32))  # None: last scan finished
    checked_at: Mapped[datetime | None] = mapped_column(DateTime)  # when a scan last finished


class GuildSettingsRow(Base):
    """One server's own choices. NULL (or an empty channel list) means "the bot's default",
    so a reset clears a column and a later change of a default reaches every server that
    never chose; storage.repositories.guild_settings reads it as a GuildSettings."""

    __tablename__ = "guild_settings"

    guild_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    prompt_channels: Mapped[list[str]] = mapped_column(default=list)  # empty: every channel
    default_count: Mapped[int | None] = mapped_column(Integer)
    max_count: Mapped[int | None] = mapped_column(Integer)
    cooldown_requests: Mapped[int | None] = mapped_column(Integer)
    cooldown_seconds: Mapped[float | None] = mapped_column(Float)
    content_ceiling: Mapped[str | None] = mapped_column(String(16))  # storage.ratings.Rating
    join_experiments: Mapped[bool | None] = mapped_column(Boolean)
    contribute_votes: Mapped[bool | None] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    updated_by: Mapped[str] = mapped_column(String(100), default="")


class GuildDeparture(Base):
    """A server the bot was removed from, and when: its data is deleted once the retention
    window has passed, unless the bot is added back first (which deletes this row)."""

    __tablename__ = "guild_departures"

    guild_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    left_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class ForgottenReaction(Base):
    """A 👍/👎 whose vote was deleted at its voter's request, while the reaction itself may
    still stand on Discord (a bot cannot remove other people's reactions without Manage
    Messages): catching up after a restart must not read it back as a new vote. The voter
    is kept only as a digest (storage.repositories.privacy.voter_digest)."""

    __tablename__ = "forgotten_reactions"

    message_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    voter_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    forgotten_at: Mapped[datetime] = mapped_column(DateTime)


class GuildPromptSettings(Base):
    """How one server curates its own prompts (absent row: no queue, Manage Server only,
    shared corpus searched too)."""

    __tablename__ = "guild_prompt_settings"

    guild_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    queue_channel_id: Mapped[str | None] = mapped_column(String(32))
    curator_role_id: Mapped[str | None] = mapped_column(String(32))
    own_prompts_only: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_by: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class SubmissionStatus(StrEnum):
    OPEN = "open"
    APPROVED = "approved"
    REJECTED = "rejected"


class PromptSubmission(Base):
    """A member's prompt waiting for a moderator; ``revision`` grows with every edit, so two
    moderators acting on the same version cannot both win."""

    __tablename__ = "prompt_submissions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    guild_id: Mapped[str] = mapped_column(String(32))
    submitter_id: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str] = mapped_column(Text)
    genres: Mapped[list[str]] = mapped_column(default=list)
    themes: Mapped[list[str]] = mapped_column(default=list)
    rating: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))  # SubmissionStatus
    revision: Mapped[int] = mapped_column(Integer, default=1)
    moderator_id: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")
    prompt_id: Mapped[str | None] = mapped_column(ForeignKey("prompts.id"))
    queue_channel_id: Mapped[str | None] = mapped_column(String(32))
    queue_message_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (Index("ix_prompt_submissions_open", "guild_id", "submitter_id", "status"),)


class DailySchedule(Base):
    """A server's daily prompt: where, when (local time in ``timezone``) and which genre."""

    __tablename__ = "daily_schedules"

    guild_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(32))
    time_of_day: Mapped[str] = mapped_column(String(5))  # "HH:MM"
    timezone: Mapped[str] = mapped_column(String(64))
    genre: Mapped[str | None] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str] = mapped_column(Text, default="")
    notified_at: Mapped[datetime | None] = mapped_column(DateTime)  # admins told it stopped
    updated_by: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class DailyPostStatus(StrEnum):
    PENDING = "pending"  # chosen by the scheduler, waiting for the bot that has the server
    POSTING = "posting"  # claimed by one bot process
    POSTED = "posted"
    FAILED = "failed"


class DailyPost(Base):
    """One server's prompt of one local day; (guild, day) is unique, so it is posted once
    however many processes or restarts see the job fire."""

    __tablename__ = "daily_posts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    guild_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    day: Mapped[str] = mapped_column(String(10))  # ISO date in the schedule's time zone
    prompt_id: Mapped[str] = mapped_column(ForeignKey("prompts.id"))
    status: Mapped[str] = mapped_column(String(16), index=True)  # DailyPostStatus
    message_id: Mapped[str | None] = mapped_column(String(32))
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    posted_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (
        UniqueConstraint("guild_id", "day", name="uq_daily_posts_guild_day"),
        UniqueConstraint("message_id", name="uq_daily_posts_message"),
    )


class DailyFeedback(Base):
    """A reaction on a daily post: feedback on the prompt itself (there was no query), so it
    is reported but never becomes a training pair."""

    __tablename__ = "daily_feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("daily_posts.id", ondelete="CASCADE"))
    voter_id: Mapped[str] = mapped_column(String(32))
    value: Mapped[int] = mapped_column(Integer)
    changed_at: Mapped[datetime] = mapped_column(DateTime)
    removed_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (UniqueConstraint("post_id", "voter_id", name="uq_daily_feedback_post_voter"),)


# APScheduler's SQLAlchemyJobStore table, mirrored here so migrations own it too.
apscheduler_jobs = Table(
    "apscheduler_jobs",
    Base.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)

Index("ix_results_prompt", Result.prompt_id)
Index("ix_results_request", Result.request_id)
Index("ix_votes_result", Vote.result_id)
