"""Catching up on votes cast (or taken back) while the bot was offline.

The gateway does not replay reactions from before a (non-resumed) connection, so on start-up
the bot re-reads the 👍/👎 reactions of every result message from the last
``reconcile_days`` through the REST API and brings the votes table in line: a reaction with
no vote is recorded, a vote whose reaction is gone is removed. Bots' reactions never count.

It runs in the background after ready, one message at a time, holding the same lock as the
live reaction handler while it reads and writes a message, so a reaction arriving meanwhile
is applied after (and on top of) what reconciliation saw.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

import discord

from serving.prompt_service import THUMBS, PromptService
from storage.database import Database, utcnow
from storage.repositories.requests import result_messages_since
from storage.repositories.votes import standing_votes

log = logging.getLogger(__name__)
EMOJI_FOR = {value: emoji for emoji, value in THUMBS.items()}


@dataclass(frozen=True)
class VoteChange:
    voter_id: str
    value: int
    added: bool  # False: remove the standing vote of this value


@dataclass
class ReconcileReport:
    messages: int = 0
    recorded: int = 0
    removed: int = 0
    unreachable: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"reconciled {self.messages} result message(s): {self.recorded} vote(s) "
            f"recorded, {self.removed} removed, {len(self.unreachable)} unreachable"
        )


def plan_votes(reactions: dict[str, set[int]], standing: dict[str, int]) -> list[VoteChange]:
    """What to change so the votes match the reactions (voter id -> thumbs values).

    A voter with both 👍 and 👎 keeps whichever vote stands; with both and no vote the order
    they were added is unknowable, so nothing is recorded for them.
    """
    changes = []
    for voter in sorted(reactions.keys() | standing.keys()):
        wanted, have = reactions.get(voter, set()), standing.get(voter)
        if have in wanted:
            continue
        if len(wanted) == 1:
            changes.append(VoteChange(voter, next(iter(wanted)), added=True))
        elif not wanted and have is not None:
            changes.append(VoteChange(voter, have, added=False))
    return changes


def result_messages(db: Database, days: int) -> list[tuple[int, int]]:
    """(channel id, message id) of results shown in the last ``days`` days, oldest first."""
    with db.session() as session:
        rows = result_messages_since(session, utcnow() - timedelta(days=days))
        return [(int(r.channel_id), int(r.message_id)) for r in rows if r.channel_id]


async def thumbs_reactions(
    client: discord.Client, channel_id: int, message_id: int
) -> dict[str, set[int]] | None:
    """Human voters' thumbs on one message (voter id -> values); None if it is gone."""
    channel = client.get_partial_messageable(channel_id)
    try:
        message = await channel.fetch_message(message_id)
    except (discord.NotFound, discord.Forbidden):
        return None
    voters: dict[str, set[int]] = {}
    for reaction in message.reactions:
        value = THUMBS.get(str(reaction.emoji))
        if value is None or reaction.count <= (1 if reaction.me else 0):
            continue  # not a thumb, or only the bot's own
        async for user in reaction.users():
            if not user.bot:
                voters.setdefault(str(user.id), set()).add(value)
    return voters


def apply_changes(
    service: PromptService, message_id: int, changes: Iterable[VoteChange]
) -> tuple[int, int]:
    """Write the planned changes (in a worker thread); returns (recorded, removed)."""
    recorded = removed = 0
    for change in changes:
        outcome = service.record_reaction(
            str(message_id), change.voter_id, EMOJI_FOR[change.value], change.added
        )
        if outcome is None:
            continue
        if change.added:
            recorded += outcome.value in ("recorded", "changed")
        else:
            removed += outcome.value == "removed"
    return recorded, removed


async def reconcile_message(
    client: discord.Client,
    service: PromptService,
    channel_id: int,
    message_id: int,
    report: ReconcileReport,
) -> None:
    reactions = await thumbs_reactions(client, channel_id, message_id)
    if reactions is None:
        report.unreachable.append(str(message_id))
        return
    standing = await asyncio.to_thread(_standing, service.db, message_id)
    changes = plan_votes(reactions, standing)
    if changes:
        recorded, removed = await asyncio.to_thread(apply_changes, service, message_id, changes)
        report.recorded += recorded
        report.removed += removed
    report.messages += 1


def _standing(db: Database, message_id: int) -> dict[str, int]:
    with db.session() as session:
        return standing_votes(session, str(message_id))


async def reconcile_reactions(
    client: discord.Client, service: PromptService, days: int, lock: asyncio.Lock
) -> ReconcileReport:
    """Bring votes in line with the reactions on recent result messages."""
    report = ReconcileReport()
    for channel_id, message_id in await asyncio.to_thread(result_messages, service.db, days):
        async with lock:
            try:
                await reconcile_message(client, service, channel_id, message_id, report)
            except discord.HTTPException as exc:  # keep going: one bad message is not all
                log.warning("could not reconcile message %s: %s", message_id, exc)
                report.unreachable.append(str(message_id))
    log.info("%s", report)
    return report
