"""App-command checks: who may manage models, and how often one user may ask for prompts.

``default_permissions(manage_guild=True)`` only hides `/model` by default; a server owner can
grant it to anyone in the integration settings, so every admin command also checks at run
time. The cooldown's buckets live on the bot (not in a decorator's closure), so two bots in
one process — tests — never share them, and the rate comes from the bot's settings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import discord
from discord import app_commands

T = TypeVar("T")


class NotModelAdmin(app_commands.CheckFailure):
    """The user may not manage models (no Manage Server, no admin role)."""


def is_model_admin(interaction: discord.Interaction, admin_role: str | None) -> bool:
    """Manage Server in this channel, or a role named ``admin_role`` (case-sensitive)."""
    if interaction.guild_id is None:
        return False  # in DMs nobody manages a server's models
    if interaction.permissions.manage_guild:
        return True
    roles = getattr(interaction.user, "roles", ())
    return bool(admin_role) and any(role.name == admin_role for role in roles)


def model_admin_only() -> Callable[[T], T]:
    """Refuse the command (``NotModelAdmin``) unless :func:`is_model_admin` holds."""

    async def predicate(interaction: discord.Interaction) -> bool:
        settings = interaction.client.settings  # type: ignore[attr-defined]
        if is_model_admin(interaction, settings.admin_role):
            return True
        raise NotModelAdmin("not a model admin")

    return app_commands.check(predicate)


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
