"""Shared set-up for the storage repository tests: prompts, versions, a shown request."""

from __future__ import annotations

from datetime import datetime, timedelta

from storage.database import Database
from storage.models import ModelStatus
from storage.prompt_file import PromptRecord
from storage.repositories import model_versions, prompts, requests

T0 = datetime(2026, 1, 1, 12, 0, 0)


def add_prompts(db: Database, n: int = 3) -> None:
    records = [
        PromptRecord(
            id=f"p{i}",
            text=f"prompt text {i}",
            title=f"T{i}",
            genres=["Fantasy"],
            themes=["Grief", "Hope"] if i % 2 else ["Hope"],
        )
        for i in range(n)
    ]
    with db.session() as s:
        prompts.upsert_prompts(s, records, source="test", now=T0)


def add_versions(db: Database) -> None:
    with db.session() as s:
        model_versions.register_version(s, "base", "/models/base", ModelStatus.BASE, T0)
        model_versions.register_version(
            s, "v1", "/models/v1", ModelStatus.CANDIDATE, T0 + timedelta(1), parent_id="base"
        )
        model_versions.register_version(
            s, "v2", "/models/v2", ModelStatus.CANDIDATE, T0 + timedelta(2), parent_id="v1"
        )


def shown(db: Database, message_ids: list[str]) -> int:
    with db.session() as s:
        req = requests.record_request(
            s,
            user_id="42",
            raw_query="Fantasy!",
            normalized_query="fantasy",
            model_version_id="base",
            now=T0,
            results=[
                requests.ShownResult(f"p{i}", 0.9 - i / 10, "base") for i in range(len(message_ids))
            ],
        )
        for result, mid in zip(req.results, message_ids, strict=True):
            requests.attach_message(s, result.id, mid, channel_id="7")
        return req.id


def request_with_messages(
    db: Database,
    user_id: str,
    guild_id: str | None,
    message_ids: list[str],
    experiment_id: int | None = None,
    arm: str | None = None,
    teams: list[str] | None = None,
) -> int:
    """A request by ``user_id`` in ``guild_id`` showing p0, p1, ... as ``message_ids``; its
    results are in ``arm`` too, or in ``teams`` (one each) for an interleaved request."""
    with db.session() as s:
        req = requests.record_request(
            s,
            user_id=user_id,
            raw_query="fantasy",
            normalized_query="fantasy",
            model_version_id="base",
            now=T0,
            guild_id=guild_id,
            channel_id=f"chan-{guild_id}",
            experiment_id=experiment_id,
            arm=arm,
            results=[
                requests.ShownResult(f"p{i}", 0.9 - i / 10, "base", team)
                for i, team in enumerate(teams or [arm] * len(message_ids))
            ],
        )
        for result, mid in zip(req.results, message_ids, strict=True):
            requests.attach_message(s, result.id, mid, channel_id=f"chan-{guild_id}")
        return req.id


def vote(db: Database, message_id: str, voter: str, value: int = 1) -> None:
    from storage.repositories.votes import record_vote

    with db.session() as s:
        record_vote(s, message_id, voter, value, T0)
