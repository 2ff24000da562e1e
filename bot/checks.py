"""App-command checks: who may do what, and how often one user may ask for prompts.

Two kinds of people run a public bot. **Operators** host it: the application's owner or its
team members (as Discord reports them) and the ids in ``PROMPTBOT_OPERATOR_IDS``. They alone
may change what every server is served (`/model promote|rollback|experiment stop`).
**Server admins** (Manage Server, or the role ``PROMPTBOT_ADMIN_ROLE``) run one server: its
`/settings`, and a read-only `/model status`.

:func:`requires` is the one decorator a command takes (after RoboDanny's
``cogs/utils/checks.py``): it sets the default permission Discord uses to hide the command
(only a hint: a server owner can show it to anyone, and Discord ignores it on subcommands, so
a group carries it too) *and* the check at run time, and writes every attempt, allowed or
refused, to the audit log with guild, channel and user. A refusal raises
:class:`AccessRefused`, which the tree answers privately, saying who may do it.

The cooldown's buckets live on the bot (not in a decorator's closure), so two bots in one
process — tests — never share them, and the rate comes from the bot's settings.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

import discord
from discord import app_commands

from storage.database import Database, utcnow
from storage.repositories.audit import write_audit

T = TypeVar("T")
log = logging.getLogger(__name__)
_SNOWFLAKE = re.compile(r"^[0-9]{1,20}$")


class Access(StrEnum):
    """Who may run a command: ``operator`` (the bot's hosts), ``server_admin`` (Manage Server
    or the admin role, in that server), ``member`` (anyone; still audited)."""

    OPERATOR = "operator"
    SERVER_ADMIN = "server_admin"
    MEMBER = "member"


class AccessRefused(app_commands.CheckFailure):
    """The user may not run this command; ``access`` says who may."""

    def __init__(self, access: Access) -> None:
        super().__init__(f"requires {access.value}")
        self.access = access


@dataclass(frozen=True)
class OperatorIds:
    """``PROMPTBOT_OPERATOR_IDS`` read leniently: one bad entry must not lock every operator
    out (or crash the bot), so entries that are not Discord ids are kept aside, logged at
    start and reported by ``promptbot doctor``."""

    ids: frozenset[int]
    ignored: tuple[str, ...]

    @classmethod
    def parse(cls, raw: str | None) -> OperatorIds:
        ids: set[int] = set()
        ignored: list[str] = []
        for entry in re.split(r"[\s,;]+", raw or ""):
            if not entry:
                continue
            if _SNOWFLAKE.match(entry) and int(entry) > 0:
                ids.add(int(entry))
            else:
                ignored.append(entry[:40])
        return cls(frozenset(ids), tuple(ignored))


async def is_operator(interaction: discord.Interaction) -> bool:
    """The application's owner or team member (Discord's word), or a configured operator."""
    client: Any = interaction.client
    if interaction.user.id in client.operators.ids:
        return True
    try:
        return bool(await client.is_owner(interaction.user))
    except discord.HTTPException:  # Discord did not answer: only the configured ids count
        log.warning("could not read the application's owner; only PROMPTBOT_OPERATOR_IDS count")
        return False


def is_server_admin(interaction: discord.Interaction, admin_role: str | None) -> bool:
    """Manage Server in this channel, or a role named ``admin_role`` (case-sensitive)."""
    if interaction.guild_id is None:
        return False  # in DMs nobody manages a server
    if interaction.permissions.manage_guild:
        return True
    roles = getattr(interaction.user, "roles", ())
    return bool(admin_role) and any(role.name == admin_role for role in roles)


async def access_of(interaction: discord.Interaction) -> frozenset[Access]:
    """Everything this user may do here. Being an operator does not make anyone a server's
    admin (servers decide their own settings), nor the other way round."""
    held = {Access.MEMBER}
    if await is_operator(interaction):
        held.add(Access.OPERATOR)
    settings: Any = interaction.client.settings  # type: ignore[attr-defined]
    if is_server_admin(interaction, settings.admin_role):
        held.add(Access.SERVER_ADMIN)
    return frozenset(held)


def audit_attempt(
    db: Database,
    interaction: discord.Interaction,
    needed: tuple[Access, ...],
    held: frozenset[Access],
    allowed: bool,
    reason: str | None = None,
) -> None:
    """One audit row per attempt: which command, where, by whom, and whether it ran."""
    command = interaction.command.qualified_name if interaction.command else "?"
    with db.session() as session:
        write_audit(
            session,
            actor=f"discord:{interaction.user.id}",
            action="command" if allowed else "command.refused",
            now=utcnow(),
            target=f"/{command}",
            details={
                "guild_id": _str_or_none(interaction.guild_id),
                "channel_id": _str_or_none(interaction.channel_id),
                "user_id": str(interaction.user.id),
                "requires": sorted(a.value for a in needed),
                "held": sorted(a.value for a in held),
                **({"reason": reason} if reason else {}),
            },
        )


def audit_direct_message(db: Database, interaction: discord.Interaction) -> None:
    """A server-only command sent from a direct message: refused whoever sent it."""
    audit_attempt(db, interaction, (), frozenset(), allowed=False, reason="direct message")


def _str_or_none(value: int | None) -> str | None:
    return None if value is None else str(value)


def requires(*any_of: Access) -> Callable[[T], T]:
    """Hide the command from members without Manage Server by default, let it run for users
    who hold any of ``any_of`` (checked at run time), and audit the attempt (see the module
    docstring)."""

    async def predicate(interaction: discord.Interaction) -> bool:
        held = await access_of(interaction)
        allowed = bool(held & set(any_of))
        db: Database = interaction.client.db  # type: ignore[attr-defined]
        await asyncio.to_thread(audit_attempt, db, interaction, any_of, held, allowed)
        if not allowed:
            raise AccessRefused(any_of[0])
        return True

    def decorator(func: T) -> T:
        if Access.MEMBER not in any_of:
            func = app_commands.default_permissions(manage_guild=True)(func)
        return app_commands.check(predicate)(func)

    return decorator


class UserCooldowns:
    """Per-user buckets of ``rate`` uses per ``per`` seconds (discord.py's Cooldown)."""

    def __init__(self, rate: int, per: float) -> None:
        self.rate, self.per = rate, per
        self._buckets: dict[Any, app_commands.Cooldown] = {}

    def retry_after(self, key: Any, now: float) -> float | None:
        """Count one use at ``now``; seconds to wait if over the limit, else None."""
        # forget users whose window has passed (a full bucket is the same as none)
        self._buckets = {k: b for k, b in self._buckets.items() if b.get_tokens(now) < b.rate}
        bucket = self._buckets.setdefault(key, app_commands.Cooldown(self.rate, self.per))
        return bucket.update_rate_limit(now)


def prompt_cooldown() -> Callable[[T], T]:
    """Raise ``CommandOnCooldown`` when a user exceeds the bot's ``cooldowns``."""

    async def predicate(interaction: discord.Interaction) -> bool:
        cooldowns: UserCooldowns = interaction.client.cooldowns  # type: ignore[attr-defined]
        now = interaction.created_at.timestamp()
        retry_after = cooldowns.retry_after(interaction.user.id, now)
        if retry_after is None:
            return True
        raise app_commands.CommandOnCooldown(
            app_commands.Cooldown(cooldowns.rate, cooldowns.per), retry_after
        )

    return app_commands.check(predicate)
