"""``FakeDiscord``: a Discord API v10 + gateway emulator on loopback.

The real discord.py client talks to it once pointed at :attr:`FakeDiscord.api_url`
and :attr:`FakeDiscord.gateway_url` (see :mod:`.dpy`). Tests build the world
(guilds, channels, members), play users (slash commands, autocomplete,
reactions, messages) and inspect what the bot did (messages, reactions,
interaction transcripts, logged requests) through the methods below.

All control methods must be called from the event loop the server runs on.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import secrets
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from aiohttp import web

from .events import EventEmitter
from .gateway import OP_RECONNECT, GatewayHub, GatewaySession, shard_of
from .interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    CommandNotSynced,
    InteractionBuilder,
    InteractionRoutes,
)
from .models import (
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    DM,
    GUILD_TEXT,
    Channel,
    EmojiRef,
    Guild,
    Member,
    Message,
    Overwrite,
    Role,
    User,
    perm_value,
)
from .records import FailureRule, FakeTimeout, InteractionRecord, Notifier, RequestRecord
from .rest import RestServer
from .routes import CoreRoutes
from .state import State

T = TypeVar("T")


def _id(value: Any) -> int:
    """Accept an id or any object with ``.id`` (fake or discord.py objects)."""
    return int(getattr(value, "id", value))


class FakeDiscord:
    """In-memory Discord (one bot user/application) served over HTTP + websocket.

    Args:
        token: the bot token to accept; ``None`` accepts any non-empty token.
        bot_name: username of the bot user (and name of its application).
        heartbeat_interval: seconds announced in HELLO.
        interaction_deadline: seconds within which an interaction must be
            acknowledged (Discord: 3); ``None`` disables the check.
        rest_latency: artificial delay added to every REST response, seconds.
        recommended_shards: the shard count ``GET /gateway/bot`` recommends.
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        bot_name: str = "promptbot",
        heartbeat_interval: float = 41.25,
        interaction_deadline: float | None = 3.0,
        rest_latency: float = 0.0,
        recommended_shards: int = 1,
    ) -> None:
        self.token = token
        self.recommended_shards = recommended_shards
        self.heartbeat_interval = heartbeat_interval
        self.interaction_deadline = interaction_deadline
        self.rest_latency = rest_latency

        self.state = State(bot_name)
        self.notifier = Notifier()
        #: Every REST request, in arrival order.
        self.requests: list[RequestRecord] = []
        #: Requests that matched no route (answered 404) — something to implement.
        self.unhandled: list[RequestRecord] = []
        #: Exceptions raised inside the fake's handlers (answered 503). Should stay empty.
        self.errors: list[BaseException] = []
        #: Every interaction dispatched, in order.
        self.interactions: list[InteractionRecord] = []
        self.interactions_by_id: dict[int, InteractionRecord] = {}
        self.interactions_by_token: dict[str, InteractionRecord] = {}
        #: File contents by attachment id (users' ``upload``s and the bot's files).
        self.files: dict[int, bytes] = self.state.files

        self.gateway = GatewayHub(self)
        self.events = EventEmitter(self)
        self.rest = RestServer(self)
        CoreRoutes(self).register(self.rest.routes)
        InteractionRoutes(self).register(self.rest.routes)
        self._builder = InteractionBuilder(self)
        self._user_numbers = itertools.count(1)

        self.host = "127.0.0.1"
        self.port: int | None = None
        self._runner: web.AppRunner | None = None

    # ================================================================= lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> FakeDiscord:
        """Serve on ``host:port`` (0 = a free port). Returns self."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/attachments/{attachment_id}/{filename}", self._serve_attachment)
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_get("/gateway/", self.gateway.handle)
        app.router.add_route("*", r"/api/v{version:\d+}/{tail:.*}", self.rest.handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.host = host
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        """Close gateway connections and the HTTP server. Close the bot first,
        or it will try to reconnect to a server that is gone."""
        await self.gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("FakeDiscord is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """Value for ``discord.http.Route.BASE``."""
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        """Value for ``DiscordWebSocket.DEFAULT_GATEWAY`` (also READY's ``resume_gateway_url``)."""
        return f"ws://{self.host}:{self.port}/gateway"

    # ================================================================= identity

    @property
    def bot_user(self) -> User:
        return self.state.bot_user

    @property
    def application_id(self) -> int:
        return self.state.application.id

    @property
    def guilds(self) -> dict[int, Guild]:
        return self.state.guilds

    @property
    def messages(self) -> dict[int, Message]:
        """All messages ever created (including deleted and ephemeral ones), by id."""
        return self.state.messages

    # ================================================================= world building

    def _guild(self, guild_id: Any = None) -> Guild:
        if guild_id is None:
            if len(self.state.guilds) != 1:
                raise ValueError(f"guild_id required: the fake has {len(self.state.guilds)} guilds")
            return next(iter(self.state.guilds.values()))
        guild = self.state.guilds.get(_id(guild_id))
        if guild is None:
            raise KeyError(f"unknown guild {guild_id}")
        return guild

    def add_guild(
        self,
        name: str = "Test Guild",
        *,
        guild_id: int | None = None,
        channel_name: str | None = "general",
        owner_id: int | None = None,
        everyone_permissions: Any = DEFAULT_EVERYONE_PERMISSIONS,
        bot_permissions: Any = DEFAULT_BOT_PERMISSIONS,
        with_bot: bool = True,
    ) -> Guild:
        """Create a guild with an @everyone role, its owner, the bot (with a managed
        role granting ``bot_permissions``) and one text channel (``guild.channel``).
        A connected bot receives GUILD_CREATE."""
        state = self.state
        gid = guild_id or state.snowflake()
        owner = state.users.get(owner_id) if owner_id else state.owner
        if owner is None:
            owner = state.add_user(f"owner{next(self._user_numbers)}", user_id=owner_id)
        guild = Guild(id=gid, name=name, owner_id=owner.id)
        guild.roles[gid] = Role(
            id=gid, guild_id=gid, name="@everyone", permissions=perm_value(everyone_permissions)
        )
        state.guilds[gid] = guild
        guild.members[owner.id] = Member(user=owner, guild_id=gid)
        if with_bot:
            role = Role(
                id=state.snowflake(),
                guild_id=gid,
                name=state.bot_user.username,
                permissions=perm_value(bot_permissions),
                position=1,
                managed=True,
                bot_id=state.bot_user.id,
            )
            guild.roles[role.id] = role
            guild.members[state.bot_user.id] = Member(
                user=state.bot_user, guild_id=gid, roles=[role.id]
            )
        if channel_name:
            self._new_channel(guild, channel_name)
        if with_bot:
            self.events.guild_create(guild)
        return guild

    def guild_id_on_shard(self, shard_id: int, shard_count: int) -> int:
        """A fresh guild id whose events Discord routes to shard ``shard_id`` of
        ``shard_count`` (for ``add_guild(guild_id=...)``)."""
        while True:
            candidate = self.state.snowflake()
            if shard_of(candidate, shard_count) == shard_id:
                return candidate
            # the next snowflakes differ only in their low bits: step to the next millisecond
            self.state.snowflake.skip_to((candidate >> 22) + 1)

    def shard_of(self, guild_id: Any) -> int:
        """The shard (of the connected bot's shard count) receiving ``guild_id``'s events."""
        return self.gateway.shard_for(_id(guild_id))

    def _new_channel(self, guild: Guild, name: str, **kwargs: Any) -> Channel:
        channel = Channel(
            id=kwargs.pop("channel_id", None) or self.state.snowflake(),
            guild_id=guild.id,
            name=name,
            position=kwargs.pop("position", None) or len(guild.channels),
            **kwargs,
        )
        guild.channels[channel.id] = channel
        self.state.channels[channel.id] = channel
        return channel

    def add_channel(
        self,
        guild_id: Any = None,
        name: str = "general",
        *,
        type: int = GUILD_TEXT,
        channel_id: int | None = None,
        topic: str | None = None,
        parent_id: int | None = None,
        overwrites: Iterable[Overwrite] = (),
        nsfw: bool = False,
    ) -> Channel:
        """Add a channel to a guild (CHANNEL_CREATE to a connected bot); ``nsfw`` marks it
        age-restricted."""
        guild = self._guild(guild_id)
        channel = self._new_channel(
            guild,
            name,
            type=type,
            channel_id=channel_id,
            topic=topic,
            parent_id=parent_id,
            overwrites=list(overwrites),
            nsfw=nsfw,
        )
        self.events.channel(channel, created=True)
        return channel

    def add_user(self, username: str, *, user_id: int | None = None, bot: bool = False) -> User:
        """A Discord user who is in no guild yet (an application owner, a team member)."""
        return self.state.add_user(username, user_id=user_id, bot=bot)

    def add_role(
        self,
        guild_id: Any = None,
        name: str = "role",
        *,
        permissions: Any = 0,
        role_id: int | None = None,
    ) -> Role:
        """Add a role (GUILD_ROLE_CREATE to a connected bot)."""
        guild = self._guild(guild_id)
        role = Role(
            id=role_id or self.state.snowflake(),
            guild_id=guild.id,
            name=name,
            permissions=perm_value(permissions),
            position=len(guild.roles),
        )
        guild.roles[role.id] = role
        self.events.role_create(role)
        return role

    def add_member(
        self,
        guild_id: Any = None,
        user_id: int | None = None,
        name: str | None = None,
        *,
        permissions: Any = None,
        roles: Iterable[Any] = (),
        bot: bool = False,
        nick: str | None = None,
    ) -> Member:
        """Add a user (created if new) to a guild. ``permissions`` adds a personal
        role granting them (on top of @everyone); ``roles`` are role ids/objects.
        A connected bot with the GUILD_MEMBERS intent receives GUILD_MEMBER_ADD."""
        guild = self._guild(guild_id)
        user = self.state.users.get(user_id) if user_id else None
        if user is None:
            user = self.state.add_user(
                name or f"user{next(self._user_numbers)}", user_id=user_id, bot=bot
            )
        role_ids = [_id(r) for r in roles]
        if permissions is not None:
            role_ids.append(
                self.add_role(guild.id, f"{user.username}-perms", permissions=permissions).id
            )
        member = Member(user=user, guild_id=guild.id, roles=role_ids, nick=nick)
        guild.members[user.id] = member
        self.events.member_add(member)
        return member

    def _ensure_member(self, guild: Guild | None, user_id: Any) -> int:
        """Make ``user_id`` a member of ``guild`` (auto-creating the user) and return its id."""
        uid = _id(user_id)
        if guild is not None and uid not in guild.members:
            self.add_member(guild.id, uid)
        elif guild is None and uid not in self.state.users:
            self.state.add_user(f"user{next(self._user_numbers)}", user_id=uid)
        return uid

    def set_overwrite(
        self, channel_id: Any, target_id: Any, *, allow: Any = 0, deny: Any = 0
    ) -> None:
        """Set a role/member permission overwrite on a channel (CHANNEL_UPDATE)."""
        channel = self.state.channels[_id(channel_id)]
        guild = self._guild(channel.guild_id)
        target = _id(target_id)
        kind = 0 if target in guild.roles else 1
        channel.overwrites = [o for o in channel.overwrites if o.id != target]
        channel.overwrites.append(
            Overwrite(id=target, type=kind, allow=perm_value(allow), deny=perm_value(deny))
        )
        self.events.channel(channel, created=False)

    def set_bot_permissions(self, guild_id: Any, permissions: Any) -> None:
        """Change the permissions of the bot's managed role (GUILD_ROLE_UPDATE)."""
        guild = self._guild(guild_id)
        role = next(r for r in guild.roles.values() if r.bot_id == self.bot_user.id)
        role.permissions = perm_value(permissions)
        self.gateway.dispatch(
            "GUILD_ROLE_UPDATE", {"guild_id": str(guild.id), "role": role.payload()}
        )

    def dm_channel(self, user_id: Any) -> Channel:
        """The bot's DM channel with a user (created on first use)."""
        uid = _id(user_id)
        for channel in self.state.channels.values():
            if channel.type == DM and channel.recipients == [uid]:
                return channel
        channel = Channel(
            id=self.state.snowflake(), guild_id=None, name="", type=DM, recipients=[uid]
        )
        self.state.channels[channel.id] = channel
        return channel

    # ================================================================= messages and reactions

    def _find_message(self, channel_id: Any, message_id: Any) -> Message:
        message = self.state.messages.get(_id(message_id))
        if message is None or (channel_id is not None and message.channel_id != _id(channel_id)):
            raise KeyError(f"unknown message {message_id} in channel {channel_id}")
        return message

    async def post_message(
        self,
        user_id: Any,
        channel_id: Any = None,
        content: str = "",
        *,
        embeds: list[dict[str, Any]] | None = None,
        reply_to: Any = None,
    ) -> Message:
        """A user sends a message (MESSAGE_CREATE; content hidden without MESSAGE_CONTENT)."""
        channel = self.state.channels[_id(channel_id)] if channel_id else self._guild().channel
        guild = self.state.guild_of_channel(channel)
        uid = self._ensure_member(guild, user_id)
        body: dict[str, Any] = {"content": content, "embeds": embeds or []}
        if reply_to is not None:
            body["message_reference"] = {"message_id": str(_id(reply_to))}
        message = self.state.new_message(channel, uid, body)
        self.events.message_create(message)
        await self.gateway.flush()
        return message

    def delete_message(self, message: Message) -> None:
        """Mark a message deleted (MESSAGE_DELETE)."""
        if not message.deleted:
            message.deleted = True
            self.events.message_delete(message)
            self.notifier.notify()

    def set_reaction(self, message: Message, emoji: EmojiRef, user_id: int, add: bool) -> bool:
        """Change reaction state and emit the gateway event; returns whether it changed."""
        changed = self.state.set_reaction(message, emoji, user_id, add)
        if changed:
            self.events.reaction(message, emoji, user_id, add)
            self.notifier.notify()
        return changed

    async def user_react(
        self, user_id: Any, channel_id: Any, message_id: Any, emoji: str, add: bool = True
    ) -> bool:
        """A user adds (or removes) a reaction: updates state and dispatches
        MESSAGE_REACTION_ADD/REMOVE, flushed to the socket before returning.
        ``emoji``: ``"👍"``, ``"name:id"`` or ``"<:name:id>"``. Returns whether state changed."""
        message = self._find_message(channel_id, message_id)
        uid = self._ensure_member(self.state.guilds.get(message.guild_id or 0), user_id)
        changed = self.set_reaction(message, EmojiRef.parse(emoji), uid, add)
        await self.gateway.flush()
        return changed

    def react_offline(
        self, user_id: Any, channel_id: Any, message_id: Any, emoji: str, add: bool = True
    ) -> bool:
        """Change reaction state *without* any gateway event (as if the bot was down)."""
        message = self._find_message(channel_id, message_id)
        uid = self._ensure_member(self.state.guilds.get(message.guild_id or 0), user_id)
        changed = self.state.set_reaction(message, EmojiRef.parse(emoji), uid, add)
        self.notifier.notify()
        return changed

    def reactions(self, message_id: Any) -> dict[str, set[int]]:
        """``{emoji_key: {user ids}}`` of a message (a copy); keys: ``"👍"`` or ``"name:id"``."""
        message = self.state.messages[_id(message_id)]
        return {key: set(users) for key, users in message.reactions.items()}

    def channel_messages(self, channel_id: Any) -> list[Message]:
        """Visible messages of a channel, oldest first."""
        return self.state.channel_history(_id(channel_id))

    def bot_messages(self, channel_id: Any = None) -> list[Message]:
        """Non-deleted messages authored by the bot (optionally in one channel), oldest first."""
        return sorted(
            (
                m
                for m in self.state.messages.values()
                if m.author_id == self.bot_user.id
                and not m.deleted
                and (channel_id is None or m.channel_id == _id(channel_id))
            ),
            key=lambda m: m.id,
        )

    # ================================================================= interactions

    def commands(self, guild_id: Any = None) -> list[dict[str, Any]]:
        """Commands the bot synced globally (``guild_id=None``) or to a guild."""
        scope = None if guild_id is None else _id(guild_id)
        return list(self.state.commands.get(scope, {}).values())

    async def _dispatch_interaction(
        self,
        kind: int,
        user_id: Any,
        guild_id: Any,
        channel_id: Any,
        name: str,
        options: dict[str, Any] | None,
        subcommand_group: str | None,
        subcommand: str | None,
        focused: str | None,
        timeout: float,
        locale: str,
    ) -> InteractionRecord:
        if channel_id is not None:
            channel = self.state.channels[_id(channel_id)]
            guild = self.state.guild_of_channel(channel)
        else:
            guild = self._guild(guild_id)
            channel = guild.channel
        uid = self._ensure_member(guild, user_id)
        shard = self.gateway.shard_for(guild.id if guild else None)
        if self.gateway.shards.get(shard) is None:
            raise RuntimeError(
                f"no bot has connected to the gateway as shard {shard} "
                "(await fake.wait_until_ready() first)"
            )
        scope = guild.id if guild else None
        try:
            command = await self.notifier.wait_for(
                lambda: self._builder.find_command(name, scope), timeout, f"/{name} to be synced"
            )
        except FakeTimeout:
            raise CommandNotSynced(
                f"/{name} was not synced (synced: {self._builder.synced_names(scope)})"
            ) from None
        interaction_id = self.state.snowflake()
        token = "aW50ZXJhY3Rpb24." + secrets.token_urlsafe(32)
        payload = self._builder.build(
            kind=kind,
            command=command,
            user_id=uid,
            guild=guild,
            channel_id=channel.id,
            options=dict(options or {}),
            subcommand_group=subcommand_group,
            subcommand=subcommand,
            focused=focused,
            interaction_id=interaction_id,
            token=token,
            locale=locale,
        )
        record = InteractionRecord(
            id=interaction_id,
            token=token,
            type=kind,
            name=name,
            user_id=uid,
            guild_id=guild.id if guild else None,
            channel_id=channel.id,
            payload=payload,
            dispatched_at=asyncio.get_running_loop().time(),
            notifier=self.notifier,
            shard_id=shard,
        )
        await self._deliver(record)
        return record

    async def invoke_command(
        self,
        user_id: Any,
        guild_id: Any = None,
        channel_id: Any = None,
        name: str = "prompt",
        options: dict[str, Any] | None = None,
        subcommand_group: str | None = None,
        subcommand: str | None = None,
        timeout: float = 5.0,
        *,
        wait: bool = True,
        locale: str = "en-US",
    ) -> InteractionRecord:
        """A user runs ``/name`` (INTERACTION_CREATE type 2) with ``options`` encoded per
        the synced definition. Waits (up to ``timeout``) for the command to be synced
        and — unless ``wait=False`` — for the bot's first callback. ``guild_id`` /
        ``channel_id`` default to the only guild and its first text channel."""
        record = await self._dispatch_interaction(
            APPLICATION_COMMAND,
            user_id,
            guild_id,
            channel_id,
            name,
            options,
            subcommand_group,
            subcommand,
            None,
            timeout,
            locale,
        )
        if wait:
            await self._await_response(record, timeout)
        return record

    async def _deliver(self, record: InteractionRecord) -> None:
        """Index ``record`` under its id and token and send it as INTERACTION_CREATE."""
        self.interactions.append(record)
        self.interactions_by_id[record.id] = record
        self.interactions_by_token[record.token] = record
        self.gateway.dispatch("INTERACTION_CREATE", record.payload)
        await self.gateway.flush()

    async def _dispatch_other(
        self,
        kind: int,
        user_id: Any,
        channel_id: int,
        data: dict[str, Any],
        name: str,
        source_message: Message | None,
        timeout: float,
        wait: bool,
    ) -> InteractionRecord:
        """A button click or a modal submit from ``user_id`` in ``channel_id``."""
        channel = self.state.channels[channel_id]
        guild = self.state.guild_of_channel(channel)
        uid = self._ensure_member(guild, user_id)
        shard = self.gateway.shard_for(guild.id if guild else None)
        interaction_id = self.state.snowflake()
        token = "aW50ZXJhY3Rpb24." + secrets.token_urlsafe(32)
        payload = self._builder.envelope(
            kind, data, uid, guild, channel, interaction_id, token, "en-US"
        )
        if source_message is not None:
            payload["message"] = self.state.message_payload(source_message)
        record = InteractionRecord(
            id=interaction_id,
            token=token,
            type=kind,
            name=name,
            user_id=uid,
            guild_id=guild.id if guild else None,
            channel_id=channel.id,
            payload=payload,
            dispatched_at=asyncio.get_running_loop().time(),
            notifier=self.notifier,
            shard_id=shard,
            source_message=source_message,
            # a click's @original is the message clicked on (a type 7 update edits it)
            original=source_message if kind == MESSAGE_COMPONENT else None,
        )
        await self._deliver(record)
        if wait:
            await self._await_response(record, timeout)
        return record

    async def click_button(
        self,
        user_id: Any,
        message: Message,
        custom_id: str,
        timeout: float = 5.0,
        *,
        wait: bool = True,
    ) -> InteractionRecord:
        """A user clicks the button ``custom_id`` on ``message`` (INTERACTION_CREATE type 3);
        a disabled or missing button raises, as the client offers no such click."""
        if message.deleted:
            raise ValueError(f"message {message.id} was deleted")
        data = self._builder.component_data(message, custom_id)
        return await self._dispatch_other(
            MESSAGE_COMPONENT,
            user_id,
            message.channel_id,
            data,
            f"button {custom_id}",
            message,
            timeout,
            wait,
        )

    async def submit_modal(
        self,
        opened_by: InteractionRecord,
        values: dict[str, str],
        timeout: float = 5.0,
        *,
        wait: bool = True,
    ) -> InteractionRecord:
        """The user who got the modal of ``opened_by`` (callback type 9) fills in ``values``
        (input custom_id -> text; others keep their defaults) and submits (type 5)."""
        if opened_by.modal is None:
            raise ValueError(f"{opened_by.name} opened no modal (callback {opened_by.callbacks})")
        data = self._builder.modal_data(opened_by.modal, values)
        return await self._dispatch_other(
            MODAL_SUBMIT,
            opened_by.user_id,
            opened_by.channel_id,
            data,
            f"modal {opened_by.modal['custom_id']}",
            opened_by.source_message,
            timeout,
            wait,
        )

    def upload(self, filename: str, data: bytes, content_type: str | None = None) -> dict:
        """A file a user attaches to a command option: pass the result as the option value.
        The bot downloads it from this server (``Attachment.read()``)."""
        attachment_id = self.state.snowflake()
        self.files[attachment_id] = bytes(data)
        url = f"{self.base_url}/attachments/{attachment_id}/{filename}"
        return {
            "id": attachment_id,
            "filename": filename,
            "size": len(data),
            "url": url,
            "content_type": content_type,
        }

    def attachment_bytes(self, attachment: dict[str, Any]) -> bytes:
        """What the bot uploaded as ``attachment`` (an entry of ``message.attachments``)."""
        return self.state.files[int(attachment["id"])]

    async def _serve_attachment(self, request: web.Request) -> web.StreamResponse:
        data = self.files.get(int(request.match_info["attachment_id"]))
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="application/octet-stream")

    def delete_channel(self, channel: Channel) -> None:
        """Delete a guild channel (CHANNEL_DELETE): later requests to it answer 404."""
        guild = self.state.guilds[channel.guild_id] if channel.guild_id else None
        if guild is not None:
            guild.channels.pop(channel.id, None)
        self.state.channels.pop(channel.id, None)
        self.events.channel_deleted(channel)
        self.notifier.notify()

    async def invoke_autocomplete(
        self,
        user_id: Any,
        guild_id: Any = None,
        channel_id: Any = None,
        name: str = "prompt",
        options: dict[str, Any] | None = None,
        focused: str | None = None,
        subcommand_group: str | None = None,
        subcommand: str | None = None,
        timeout: float = 5.0,
        *,
        locale: str = "en-US",
    ) -> list[dict[str, Any]]:
        """A user types into option ``focused`` (default: the first given option with
        autocomplete) of ``/name``; returns the choices the bot answered (callback type 8).
        The full transcript is ``fake.interactions[-1]``."""
        record = await self._dispatch_interaction(
            AUTOCOMPLETE,
            user_id,
            guild_id,
            channel_id,
            name,
            options,
            subcommand_group,
            subcommand,
            focused,
            timeout,
            locale,
        )
        await self._await_response(record, timeout)
        if not record.acknowledged:
            raise AssertionError(f"autocomplete callback rejected: {record.callbacks}")
        return list(record.choices or [])

    async def press_button(
        self, message: Message, custom_id: str, user_id: Any, timeout: float = 5.0
    ) -> InteractionRecord:
        """``user_id`` clicks the button ``custom_id`` on ``message``: :meth:`click_button`
        with the arguments in another order."""
        return await self.click_button(user_id, message, custom_id, timeout)

    def set_application_team(self, members: Iterable[tuple[Any, str]]) -> None:
        """A team owns the application: ``(user id, role)`` per member, role ``admin``,
        ``developer`` or ``read_only``, as the Developer Portal assigns them."""
        app = self.state.application
        team = []
        for user_id, role in members:
            user = self.state.users.get(_id(user_id)) or self.state.add_user(
                f"team{next(self._user_numbers)}", user_id=_id(user_id)
            )
            team.append((user, role))
        app.team, app.team_id = team, self.state.snowflake()

    def remove_bot(self, guild_id: Any) -> None:
        """The bot is removed from a guild (kicked, or the server deleted it): GUILD_DELETE
        without ``unavailable``, which discord.py reports as ``on_guild_remove``. The guild
        stays in the fake, so :meth:`readd_bot` can bring the bot back."""
        guild = self._guild(guild_id)
        self.gateway.dispatch("GUILD_DELETE", {"id": str(guild.id)}, guild_id=guild.id)
        guild.members.pop(self.state.bot_user.id, None)

    def readd_bot(self, guild_id: Any) -> None:
        """The bot is invited back: its member returns and GUILD_CREATE follows
        (``on_guild_join``)."""
        guild = self._guild(guild_id)
        role = next(r for r in guild.roles.values() if r.bot_id == self.state.bot_user.id)
        guild.members[self.state.bot_user.id] = Member(
            user=self.state.bot_user, guild_id=guild.id, roles=[role.id]
        )
        self.events.guild_create(guild)

    async def _await_response(self, record: InteractionRecord, timeout: float) -> None:
        try:
            await record.wait_response(timeout)
        except FakeTimeout as exc:
            recent = ", ".join(f"{r.method} {r.path} -> {r.status}" for r in self.requests[-5:])
            raise FakeTimeout(
                f"{exc}; the bot never called back. Last requests: [{recent}]; "
                f"fake errors: {self.errors}"
            ) from None

    # ================================================================= waiting and inspection

    async def wait_for(
        self, predicate: Callable[[], T | None], timeout: float = 5.0, what: str = "condition"
    ) -> T:
        """Wait until ``predicate()`` is truthy (re-checked on every state change)."""
        return await self.notifier.wait_for(predicate, timeout, what)

    async def wait_until_ready(self, timeout: float = 5.0, *, count: int = 1) -> GatewaySession:
        """Wait until the ``count``-th IDENTIFY got READY and the GUILD_CREATEs were written.
        (The bot's own ``on_ready`` follows after its ``guild_ready_timeout``.)"""
        await self.wait_for(
            lambda: self.gateway.identify_count >= count and self.gateway.connected,
            timeout,
            f"IDENTIFY #{count}",
        )
        await self.gateway.flush()
        assert self.gateway.current is not None
        return self.gateway.current

    async def wait_until_resumed(self, timeout: float = 5.0, *, count: int = 1) -> None:
        """Wait until the gateway accepted ``count`` RESUMEs in total."""
        await self.wait_for(
            lambda: self.gateway.resume_count >= count and self.gateway.connected,
            timeout,
            f"RESUME #{count}",
        )
        await self.gateway.flush()

    def find_requests(self, method: str = "*", path_regex: str = "") -> list[RequestRecord]:
        """Answered requests with ``method`` (``"*"``: any) and ``re.search(path_regex, path)``."""
        pattern = re.compile(path_regex)
        return [
            r
            for r in self.requests
            if method in ("*", r.method) and pattern.search(r.path) and r.status is not None
        ]

    async def wait_for_request(
        self,
        method: str,
        path_regex: str,
        timeout: float = 5.0,
        *,
        count: int = 1,
        status: int | None = None,
    ) -> RequestRecord:
        """Wait for the ``count``-th answered request matching (and with ``status``, if given)."""

        def matching() -> RequestRecord | None:
            found = [
                r
                for r in self.find_requests(method, path_regex)
                if status is None or r.status == status
            ]
            return found[count - 1] if len(found) >= count else None

        return await self.wait_for(matching, timeout, f"{method} {path_regex}")

    async def wait_for_commands(
        self, *names: str, guild_id: Any = None, timeout: float = 5.0
    ) -> list[dict]:
        """Wait until the bot has synced (globally or to ``guild_id``) commands ``names``
        (any command if none given)."""

        def synced() -> list[dict] | None:
            commands = self.commands(guild_id)
            have = {c["name"] for c in commands}
            return commands if commands and set(names) <= have else None

        return await self.wait_for(synced, timeout, f"commands {names or 'any'} to be synced")

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int = 429,
        retry_after: float = 0.2,
        times: int = 1,
        *,
        is_global: bool = False,
        code: int | None = None,
        message: str | None = None,
    ) -> FailureRule:
        """Answer the next ``times`` requests matching ``method`` (or ``"*"``) and
        ``re.search(path_regex, decoded_path)`` with ``status``: 429 is a proper rate limit
        (``Via`` header, ``retry_after`` body, X-RateLimit-* headers), anything else a
        Discord-style error body. The returned rule's ``hits`` lists the failed requests."""
        return self.rest.fail_next(
            method,
            path_regex,
            status=status,
            retry_after=retry_after,
            times=times,
            is_global=is_global,
            code=code,
            message=message,
        )

    # ================================================================= gateway control

    async def dispatch(
        self, event: str, data: dict[str, Any], intent: int | None = None
    ) -> int | None:
        """Send an arbitrary DISPATCH to the bot (escape hatch); returns its sequence number."""
        seq = self.gateway.dispatch(event, data, intent)
        await self.gateway.flush()
        return seq

    async def close_gateway(self, code: int = 4000) -> None:
        """Drop the bot's websocket; with the default code discord.py RESUMEs."""
        await self.gateway.close_current(code)

    def request_reconnect(self) -> None:
        """Send op 7 RECONNECT (discord.py reconnects and RESUMEs)."""
        self.gateway.send_op(OP_RECONNECT)

    def invalidate_session(self, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION (non-resumable: discord.py re-IDENTIFIES)."""
        self.gateway.invalidate(resumable)
