"""REST endpoints other than interactions/webhooks: gateway discovery, users,
the application and its commands, guilds, channels, messages and reactions.

Each handler emulates the corresponding Discord v10 endpoint, including the
permission checks (as the bot user), error codes and the gateway events a
successful call triggers (MESSAGE_CREATE, MESSAGE_REACTION_ADD, ...).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .models import DM, Channel, EmojiRef, Message, Perm
from .rest import Ctx, Result, RouteTable
from .validation import (
    INVALID_FORM_BODY,
    MAX_REACTIONS,
    MISSING_ACCESS,
    MISSING_PERMISSIONS,
    UNKNOWN_CHANNEL,
    UNKNOWN_COMMAND,
    UNKNOWN_EMOJI,
    UNKNOWN_GUILD,
    UNKNOWN_MEMBER,
    UNKNOWN_MESSAGE,
    UNKNOWN_USER,
    ApiError,
    unknown,
    validate_message,
)

if TYPE_CHECKING:
    from .server import FakeDiscord

_COMMAND_NAME = re.compile(r"^[-_\w]{1,32}$")


def _form_error(message: str) -> ApiError:
    return ApiError(400, INVALID_FORM_BODY, f"Invalid Form Body: {message}")


def validate_command(payload: dict[str, Any]) -> None:
    """The application-command constraints Discord enforces on sync."""
    kind = payload.get("type", 1)
    name = payload.get("name") or ""
    if kind == 1:
        if not _COMMAND_NAME.match(name) or name != name.lower():
            raise _form_error(f"invalid command name {name!r}")
        if not 1 <= len(payload.get("description") or "") <= 100:
            raise _form_error(f"command {name!r}: description must be 1-100 characters")
    elif not 1 <= len(name) <= 32:
        raise _form_error(f"invalid context menu name {name!r}")
    _validate_options(payload.get("options") or [], name)


def _validate_options(options: list[dict[str, Any]], where: str) -> None:
    if len(options) > 25:
        raise _form_error(f"{where}: more than 25 options")
    seen_optional = False
    names = set()
    for opt in options:
        name = opt.get("name") or ""
        if not _COMMAND_NAME.match(name) or name != name.lower():
            raise _form_error(f"{where}: invalid option name {name!r}")
        if name in names:
            raise _form_error(f"{where}: duplicate option {name!r}")
        names.add(name)
        if not 1 <= len(opt.get("description") or "") <= 100:
            raise _form_error(f"{where}.{name}: description must be 1-100 characters")
        if len(opt.get("choices") or []) > 25:
            raise _form_error(f"{where}.{name}: more than 25 choices")
        if opt.get("choices") and opt.get("autocomplete"):
            raise _form_error(f"{where}.{name}: autocomplete and choices are exclusive")
        if opt.get("type") in (1, 2):
            _validate_options(opt.get("options") or [], f"{where}.{name}")
            continue
        if opt.get("required"):
            if seen_optional:
                raise _form_error(
                    f"{where}.{name}: required options must be placed before non-required options"
                )
        else:
            seen_optional = True


class CoreRoutes:
    """Handlers for the non-interaction endpoints."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake

    def register(self, t: RouteTable) -> None:
        # discovery and identity
        t.add("GET", "/gateway", self.get_gateway, auth=False)
        t.add("GET", "/gateway/bot", self.get_gateway_bot)
        t.add("GET", "/users/@me", self.get_me)
        t.add("GET", "/users/@me/guilds", self.get_my_guilds)
        t.add("POST", "/users/@me/channels", self.create_dm)
        t.add("GET", "/users/{user_id}", self.get_user)
        t.add("GET", "/oauth2/applications/@me", self.get_application)
        t.add("GET", "/applications/@me", self.get_application)
        # application commands (global and guild)
        for prefix in (
            "/applications/{application_id}",
            "/applications/{application_id}/guilds/{guild_id}",
        ):
            t.add("GET", f"{prefix}/commands", self.list_commands)
            t.add("PUT", f"{prefix}/commands", self.put_commands)
            t.add("POST", f"{prefix}/commands", self.post_command)
            t.add("GET", f"{prefix}/commands/{{command_id}}", self.get_command)
            t.add("PATCH", f"{prefix}/commands/{{command_id}}", self.patch_command)
            t.add("DELETE", f"{prefix}/commands/{{command_id}}", self.delete_command)
        t.add(
            "GET",
            "/applications/{application_id}/guilds/{guild_id}/commands/permissions",
            self.no_permissions,
        )
        # guilds
        t.add("GET", "/guilds/{guild_id}", self.get_guild)
        t.add("GET", "/guilds/{guild_id}/channels", self.get_guild_channels)
        t.add("GET", "/guilds/{guild_id}/roles", self.get_roles)
        t.add("GET", "/guilds/{guild_id}/members", self.list_members)
        t.add("GET", "/guilds/{guild_id}/members/{user_id}", self.get_member)
        # channels and messages
        c = "/channels/{channel_id}"
        m = c + "/messages/{message_id}"
        t.add("GET", c, self.get_channel)
        t.add("POST", f"{c}/typing", self.typing)
        t.add("GET", f"{c}/messages", self.get_messages)
        t.add("POST", f"{c}/messages", self.create_message)
        t.add("GET", m, self.get_message)
        t.add("PATCH", m, self.edit_message)
        t.add("DELETE", m, self.delete_message)
        # reactions (the @me routes must precede the {user_id} ones)
        t.add("PUT", f"{m}/reactions/{{emoji}}/@me", self.add_own_reaction)
        t.add("DELETE", f"{m}/reactions/{{emoji}}/@me", self.remove_own_reaction)
        t.add("DELETE", f"{m}/reactions/{{emoji}}/{{user_id}}", self.remove_user_reaction)
        t.add("GET", f"{m}/reactions/{{emoji}}", self.get_reaction_users)
        t.add("DELETE", f"{m}/reactions/{{emoji}}", self.clear_emoji)
        t.add("DELETE", f"{m}/reactions", self.clear_reactions)

    @property
    def state(self):
        return self.fake.state

    @property
    def bot_id(self) -> int:
        return self.state.bot_user.id

    # ------------------------------------------------------------ lookups

    def _channel(self, ctx: Ctx) -> Channel:
        channel = self.state.channels.get(ctx.snowflake("channel_id"))
        if channel is None:
            raise unknown("Channel", UNKNOWN_CHANNEL)
        return channel

    def _require(self, channel: Channel, *perms: int) -> int:
        """Raise 403 unless the bot has all ``perms`` in ``channel``; returns its permissions."""
        have = self.state.channel_permissions(channel, self.bot_id)
        if not have & Perm.VIEW_CHANNEL:
            raise ApiError(403, MISSING_ACCESS, "Missing Access")
        for perm in perms:
            if not have & perm:
                raise ApiError(403, MISSING_PERMISSIONS, "Missing Permissions")
        return have

    def _message(self, ctx: Ctx, *perms: int) -> tuple[Channel, Message]:
        channel = self._channel(ctx)
        self._require(channel, Perm.READ_MESSAGE_HISTORY, *perms)
        message = self.state.messages.get(ctx.snowflake("message_id"))
        if (
            message is None
            or message.deleted
            or message.ephemeral
            or message.channel_id != channel.id
        ):
            raise unknown("Message", UNKNOWN_MESSAGE)
        return channel, message

    def _guild(self, ctx: Ctx):
        guild = self.state.guilds.get(ctx.snowflake("guild_id"))
        if guild is None or self.bot_id not in guild.members:
            raise unknown("Guild", UNKNOWN_GUILD)
        return guild

    @staticmethod
    def _emoji(ctx: Ctx) -> EmojiRef:
        emoji = EmojiRef.parse(ctx.params["emoji"])
        if not emoji.looks_valid():
            raise ApiError(400, UNKNOWN_EMOJI, "Unknown Emoji")
        return emoji

    # ------------------------------------------------------------ discovery and identity

    async def get_gateway(self, ctx: Ctx) -> Result:
        return 200, {"url": self.fake.gateway_url}

    async def get_gateway_bot(self, ctx: Ctx) -> Result:
        return 200, {
            "url": self.fake.gateway_url,
            "shards": self.fake.recommended_shards,
            "session_start_limit": {
                "total": 1000,
                "remaining": 999,
                "reset_after": 14_400_000,
                "max_concurrency": 1,
            },
        }

    async def get_me(self, ctx: Ctx) -> Result:
        return 200, self.state.bot_user.payload() | {
            "verified": True,
            "mfa_enabled": False,
            "email": None,
        }

    async def get_my_guilds(self, ctx: Ctx) -> Result:
        guilds = [g for g in self.state.guilds.values() if self.bot_id in g.members]
        return 200, [
            {
                "id": str(g.id),
                "name": g.name,
                "icon": None,
                "owner": False,
                "permissions": str(self.state.permissions(g, self.bot_id)),
                "features": [],
            }
            for g in guilds
        ]

    async def get_user(self, ctx: Ctx) -> Result:
        user = self.state.users.get(ctx.snowflake("user_id"))
        if user is None:
            raise unknown("User", UNKNOWN_USER)
        return 200, user.payload()

    async def create_dm(self, ctx: Ctx) -> Result:
        user_id = int(ctx.body.get("recipient_id") or 0)
        if user_id not in self.state.users:
            raise unknown("User", UNKNOWN_USER)
        return 200, self.state.channel_payload(self.fake.dm_channel(user_id))

    async def get_application(self, ctx: Ctx) -> Result:
        return 200, self.state.application.payload()

    # ------------------------------------------------------------ application commands

    def _scope(self, ctx: Ctx) -> dict[tuple[int, str], dict[str, Any]]:
        if ctx.snowflake("application_id") != self.state.application.id:
            raise unknown("Application", 10002)
        guild_id = ctx.snowflake("guild_id") if "guild_id" in ctx.params else None
        if guild_id is not None:
            guild = self.state.guilds.get(guild_id)
            if guild is None or self.bot_id not in guild.members:
                raise ApiError(403, MISSING_ACCESS, "Missing Access")
        return self.state.commands.setdefault(guild_id, {})

    def _normalize(
        self, ctx: Ctx, payload: dict[str, Any], old: dict[str, Any] | None
    ) -> dict[str, Any]:
        validate_command(payload)
        guild_id = ctx.params.get("guild_id")
        kind = payload.get("type", 1)
        command = {
            "id": old["id"] if old else str(self.state.snowflake()),
            "application_id": str(self.state.application.id),
            "version": str(self.state.snowflake()),
            "type": kind,
            "name": payload["name"],
            "name_localizations": payload.get("name_localizations"),
            "description": payload.get("description", "") if kind == 1 else "",
            "description_localizations": payload.get("description_localizations"),
            "options": payload.get("options") or [],
            "default_member_permissions": payload.get("default_member_permissions"),
            "dm_permission": payload.get("dm_permission", True),
            "nsfw": payload.get("nsfw", False),
            "contexts": payload.get("contexts"),
            "integration_types": payload.get("integration_types") or [0],
        }
        if guild_id is not None:
            command["guild_id"] = guild_id
        return command

    async def list_commands(self, ctx: Ctx) -> Result:
        return 200, list(self._scope(ctx).values())

    async def put_commands(self, ctx: Ctx) -> Result:
        scope = self._scope(ctx)
        if not isinstance(ctx.json, list):
            raise _form_error("expected a list of commands")
        if len(ctx.json) > 100:
            raise _form_error("more than 100 commands")
        new: dict[tuple[int, str], dict[str, Any]] = {}
        for payload in ctx.json:
            key = (int(payload.get("type", 1)), str(payload.get("name")))
            if key in new:
                raise _form_error(f"duplicate command {key[1]!r}")
            new[key] = self._normalize(ctx, payload, scope.get(key))
        scope.clear()
        scope.update(new)
        return 200, list(new.values())

    async def post_command(self, ctx: Ctx) -> Result:
        scope = self._scope(ctx)
        key = (int(ctx.body.get("type", 1)), str(ctx.body.get("name")))
        old = scope.get(key)
        scope[key] = self._normalize(ctx, ctx.body, old)
        return (200 if old else 201), scope[key]

    def _find_command(self, ctx: Ctx) -> tuple[tuple[int, str], dict[str, Any]]:
        scope = self._scope(ctx)
        wanted = ctx.params["command_id"]
        for key, command in scope.items():
            if command["id"] == wanted:
                return key, command
        raise unknown("application command", UNKNOWN_COMMAND)

    async def get_command(self, ctx: Ctx) -> Result:
        return 200, self._find_command(ctx)[1]

    async def patch_command(self, ctx: Ctx) -> Result:
        key, command = self._find_command(ctx)
        scope = self._scope(ctx)
        updated = self._normalize(ctx, command | ctx.body, command)
        del scope[key]
        scope[(updated["type"], updated["name"])] = updated
        return 200, updated

    async def delete_command(self, ctx: Ctx) -> Result:
        key, _ = self._find_command(ctx)
        del self._scope(ctx)[key]
        return 204, None

    async def no_permissions(self, ctx: Ctx) -> Result:
        return 200, []

    # ------------------------------------------------------------ guilds

    async def get_guild(self, ctx: Ctx) -> Result:
        guild = self._guild(ctx)
        data = self.state.guild_payload(guild)
        if ctx.query.get("with_counts") in ("true", "1", "True"):
            data.update(approximate_member_count=len(guild.members), approximate_presence_count=0)
        return 200, data

    async def get_guild_channels(self, ctx: Ctx) -> Result:
        guild = self._guild(ctx)
        return 200, [self.state.channel_payload(c) for c in guild.channels.values()]

    async def get_roles(self, ctx: Ctx) -> Result:
        return 200, [r.payload() for r in self._guild(ctx).roles.values()]

    async def list_members(self, ctx: Ctx) -> Result:
        guild = self._guild(ctx)
        limit = max(1, min(1000, ctx.query_int("limit", 1) or 1))
        after = ctx.query_int("after", 0) or 0
        members = sorted((m for m in guild.members.values() if m.id > after), key=lambda m: m.id)
        return 200, [m.payload() for m in members[:limit]]

    async def get_member(self, ctx: Ctx) -> Result:
        member = self._guild(ctx).members.get(ctx.snowflake("user_id"))
        if member is None:
            raise unknown("Member", UNKNOWN_MEMBER)
        return 200, member.payload()

    # ------------------------------------------------------------ channels and messages

    async def get_channel(self, ctx: Ctx) -> Result:
        channel = self._channel(ctx)
        if channel.type != DM:
            self._require(channel)
        return 200, self.state.channel_payload(channel)

    async def typing(self, ctx: Ctx) -> Result:
        self._require(self._channel(ctx), Perm.SEND_MESSAGES)
        return 204, None

    async def get_messages(self, ctx: Ctx) -> Result:
        channel = self._channel(ctx)
        self._require(channel, Perm.READ_MESSAGE_HISTORY)
        page = self.state.history_page(
            channel.id,
            limit=ctx.query_int("limit", 50) or 50,
            before=ctx.query_int("before"),
            after=ctx.query_int("after"),
            around=ctx.query_int("around"),
        )
        return 200, [self.state.message_payload(m) for m in page]

    async def create_message(self, ctx: Ctx) -> Result:
        channel = self._channel(ctx)
        self._require(channel, Perm.SEND_MESSAGES)
        body = ctx.body
        validate_message(body, files=len(ctx.files))
        ref = body.get("message_reference")
        if ref and ref.get("message_id"):
            target = self.state.messages.get(int(ref["message_id"]))
            if (target is None or target.deleted) and ref.get("fail_if_not_exists", True):
                raise _form_error("message_reference: Unknown message")
        message = self.state.new_message(channel, self.bot_id, body, ctx.files)
        self.fake.events.message_create(message)
        return 200, self.state.message_payload(message)

    async def get_message(self, ctx: Ctx) -> Result:
        _, message = self._message(ctx)
        return 200, self.state.message_payload(message)

    async def edit_message(self, ctx: Ctx) -> Result:
        _, message = self._message(ctx)
        if message.author_id != self.bot_id:
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        validate_message(ctx.body, editing=True)
        self.state.apply_edit(message, ctx.body, ctx.files)
        self.fake.events.message_update(message)
        return 200, self.state.message_payload(message)

    async def delete_message(self, ctx: Ctx) -> Result:
        channel, message = self._message(ctx)
        if message.author_id != self.bot_id:
            self._require(channel, Perm.MANAGE_MESSAGES)
        self.fake.delete_message(message)
        return 204, None

    # ------------------------------------------------------------ reactions

    async def add_own_reaction(self, ctx: Ctx) -> Result:
        channel, message = self._message(ctx)
        emoji = self._emoji(ctx)
        if emoji.key not in message.reactions:
            self._require(channel, Perm.ADD_REACTIONS)
            if len(message.reactions) >= 20:
                raise ApiError(400, MAX_REACTIONS, "Maximum number of reactions reached (20)")
        self.fake.set_reaction(message, emoji, self.bot_id, add=True)
        return 204, None

    async def remove_own_reaction(self, ctx: Ctx) -> Result:
        _, message = self._message(ctx)
        self.fake.set_reaction(message, self._emoji(ctx), self.bot_id, add=False)
        return 204, None

    async def remove_user_reaction(self, ctx: Ctx) -> Result:
        channel, message = self._message(ctx)
        user_id = ctx.snowflake("user_id")
        if user_id != self.bot_id:
            self._require(channel, Perm.MANAGE_MESSAGES)
        self.fake.set_reaction(message, self._emoji(ctx), user_id, add=False)
        return 204, None

    async def get_reaction_users(self, ctx: Ctx) -> Result:
        _, message = self._message(ctx)
        emoji = self._emoji(ctx)
        if emoji.key not in message.reactions:
            raise ApiError(404, UNKNOWN_EMOJI, "Unknown Emoji")
        if ctx.query_int("type", 0) == 1:  # burst ("super") reactions: the fake has none
            return 200, []
        limit = max(1, min(100, ctx.query_int("limit", 25) or 25))
        after = ctx.query_int("after", 0) or 0
        ids = sorted(u for u in message.reactions[emoji.key] if u > after)[:limit]
        return 200, [self.state.users[u].payload() for u in ids if u in self.state.users]

    async def clear_emoji(self, ctx: Ctx) -> Result:
        channel, message = self._message(ctx)
        self._require(channel, Perm.MANAGE_MESSAGES)
        emoji = self._emoji(ctx)
        if message.reactions.pop(emoji.key, None) is not None:
            message.reaction_emojis.pop(emoji.key, None)
            self.fake.events.reactions_cleared(message, emoji)
        return 204, None

    async def clear_reactions(self, ctx: Ctx) -> Result:
        channel, message = self._message(ctx)
        self._require(channel, Perm.MANAGE_MESSAGES)
        message.reactions.clear()
        message.reaction_emojis.clear()
        self.fake.events.reactions_cleared(message, None)
        return 204, None
