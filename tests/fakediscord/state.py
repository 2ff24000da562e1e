"""The in-memory store of the fake Discord and its serialisers.

:class:`State` holds every entity (see :mod:`.models`), computes permissions the
way Discord does and renders the JSON shapes API v10 sends (channel, guild,
GUILD_CREATE, message objects) plus history pages and reaction bookkeeping.
Nothing here does I/O; the REST routes and the gateway read and mutate it.
"""

from __future__ import annotations

import re
from typing import Any

from .models import (
    ALL_PERMISSIONS,
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    Application,
    Channel,
    EmojiRef,
    Guild,
    Member,
    Message,
    Perm,
    SnowflakeGenerator,
    User,
    iso,
    utcnow,
)

_USER_MENTION = re.compile(r"<@!?(\d+)>")


class State:
    """All fake Discord data plus the serialisers and permission maths."""

    def __init__(self, bot_name: str = "promptbot") -> None:
        self.snowflake = SnowflakeGenerator()
        self.users: dict[int, User] = {}
        self.bot_user = self.add_user(bot_name, bot=True, discriminator="0001")
        self.owner = self.add_user("app-owner")
        self.application = Application(id=self.bot_user.id, name=bot_name, owner=self.owner)
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.messages: dict[int, Message] = {}
        #: File contents by attachment id: what users attach and what the bot uploads.
        self.files: dict[int, bytes] = {}
        #: Synced application commands: scope (None = global, else guild id)
        #: -> (type, name) -> command payload.
        self.commands: dict[int | None, dict[tuple[int, str], dict[str, Any]]] = {None: {}}

    # ----------------------------------------------------------------- users/guilds

    def add_user(
        self,
        username: str,
        *,
        user_id: int | None = None,
        bot: bool = False,
        discriminator: str = "0",
    ) -> User:
        user = User(
            id=user_id or self.snowflake(), username=username, bot=bot, discriminator=discriminator
        )
        self.users[user.id] = user
        return user

    def guild_of_channel(self, channel: Channel) -> Guild | None:
        return self.guilds.get(channel.guild_id) if channel.guild_id is not None else None

    def member(self, guild_id: int, user_id: int) -> Member | None:
        guild = self.guilds.get(guild_id)
        return guild.members.get(user_id) if guild else None

    # ------------------------------------------------------------------ permissions

    def permissions(self, guild: Guild, user_id: int, channel: Channel | None = None) -> int:
        """Discord's permission resolution: roles, administrator, then channel overwrites."""
        member = guild.members.get(user_id)
        if member is None:
            return 0
        if guild.owner_id == user_id:
            return ALL_PERMISSIONS
        base = guild.everyone.permissions
        for role_id in member.roles:
            role = guild.roles.get(role_id)
            if role is not None:
                base |= role.permissions
        if base & Perm.ADMINISTRATOR:
            return ALL_PERMISSIONS
        if channel is None:
            return base

        overwrites = {(o.type, o.id): o for o in channel.overwrites}
        everyone = overwrites.get((0, guild.id))
        if everyone:
            base = (base & ~everyone.deny) | everyone.allow
        allow = deny = 0
        for role_id in member.roles:
            ow = overwrites.get((0, role_id))
            if ow:
                allow |= ow.allow
                deny |= ow.deny
        base = (base & ~deny) | allow
        own = overwrites.get((1, user_id))
        if own:
            base = (base & ~own.deny) | own.allow

        if not base & Perm.VIEW_CHANNEL:
            return 0
        if not base & Perm.SEND_MESSAGES:
            base &= ~(
                Perm.SEND_TTS_MESSAGES
                | Perm.MENTION_EVERYONE
                | Perm.EMBED_LINKS
                | Perm.ATTACH_FILES
            )
        return base

    def channel_permissions(self, channel: Channel, user_id: int) -> int:
        """Permissions of a user in a channel; DMs allow everything a DM allows."""
        guild = self.guild_of_channel(channel)
        if guild is None:
            return int(
                Perm.VIEW_CHANNEL
                | Perm.SEND_MESSAGES
                | Perm.READ_MESSAGE_HISTORY
                | Perm.ADD_REACTIONS
                | Perm.EMBED_LINKS
                | Perm.ATTACH_FILES
                | Perm.USE_EXTERNAL_EMOJIS
            )
        return self.permissions(guild, user_id, channel)

    # ------------------------------------------------------------------ serialisers

    def channel_payload(
        self, channel: Channel, *, permissions_for: int | None = None
    ) -> dict[str, Any]:
        """Channel object; ``permissions_for`` adds the ``permissions`` field (interactions)."""
        data: dict[str, Any] = {
            "id": str(channel.id),
            "type": channel.type,
            "last_message_id": str(channel.last_message_id) if channel.last_message_id else None,
            "flags": 0,
        }
        if channel.guild_id is None:
            data["recipients"] = [
                self.users[u].payload() for u in channel.recipients if u in self.users
            ]
        else:
            data.update(
                guild_id=str(channel.guild_id),
                name=channel.name,
                position=channel.position,
                permission_overwrites=[o.payload() for o in channel.overwrites],
                topic=channel.topic,
                nsfw=channel.nsfw,
                parent_id=str(channel.parent_id) if channel.parent_id else None,
                rate_limit_per_user=0,
                default_auto_archive_duration=1440,
            )
        if permissions_for is not None:
            data["permissions"] = str(self.channel_permissions(channel, permissions_for))
        return data

    def guild_payload(self, guild: Guild) -> dict[str, Any]:
        """Guild object as returned by ``GET /guilds/{id}`` (no members/channels)."""
        system = guild.text_channels[0].id if guild.text_channels else None
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "region": None,
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [r.payload() for r in guild.roles.values()],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": str(system) if system else None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
        }

    def guild_create_payload(self, guild: Guild) -> dict[str, Any]:
        """The full GUILD_CREATE payload (members, channels, roles)."""
        data = self.guild_payload(guild)
        data.update(
            joined_at=iso(guild.joined_at),
            large=False,
            unavailable=False,
            member_count=len(guild.members),
            members=[m.payload() for m in guild.members.values()],
            channels=[self.channel_payload(c) for c in guild.channels.values()],
            threads=[],
            presences=[],
            voice_states=[],
            stage_instances=[],
            guild_scheduled_events=[],
            soundboard_sounds=[],
        )
        return data

    def message_payload(
        self, message: Message, *, gateway: bool = False, redact_content: bool = False
    ) -> dict[str, Any]:
        """Message object. ``gateway`` adds ``guild_id``/``member`` as MESSAGE_CREATE does;
        ``redact_content`` blanks what the MESSAGE_CONTENT intent would hide."""
        author = self.users[message.author_id]
        mentions = []
        for raw in _USER_MENTION.findall(message.content):
            user = self.users.get(int(raw))
            if user is not None and user.payload() not in mentions:
                mentions.append(user.payload())
        data: dict[str, Any] = {
            "id": str(message.id),
            "channel_id": str(message.channel_id),
            "author": author.payload(),
            "content": "" if redact_content else message.content,
            "timestamp": iso(message.created_at),
            "edited_timestamp": iso(message.edited_at),
            "tts": message.tts,
            "mention_everyone": False,
            "mentions": mentions,
            "mention_roles": [],
            "attachments": [] if redact_content else list(message.attachments),
            "embeds": [] if redact_content else list(message.embeds),
            "components": [] if redact_content else list(message.components),
            "pinned": False,
            "type": message.type,
            "flags": message.flags,
        }
        if message.nonce is not None:
            data["nonce"] = message.nonce
        if message.application_id is not None:
            data["application_id"] = str(message.application_id)
        if message.webhook_id is not None:
            data["webhook_id"] = str(message.webhook_id)
        if message.interaction_meta is not None:
            data["interaction_metadata"] = dict(message.interaction_meta)
            data["interaction"] = {
                "id": message.interaction_meta["id"],
                "type": message.interaction_meta["type"],
                "name": message.interaction_meta.get("name", ""),
                "user": message.interaction_meta["user"],
            }
        if message.message_reference is not None:
            data["message_reference"] = dict(message.message_reference)
            ref_id = int(message.message_reference.get("message_id") or 0)
            ref = self.messages.get(ref_id)
            data["referenced_message"] = (
                self.message_payload(ref) if ref is not None and not ref.deleted else None
            )
        if message.reactions:
            data["reactions"] = [
                self._reaction_payload(message, key, users)
                for key, users in message.reactions.items()
            ]
        if gateway and message.guild_id is not None:
            data["guild_id"] = str(message.guild_id)
            member = self.member(message.guild_id, message.author_id)
            if member is not None and message.webhook_id is None:
                data["member"] = member.payload(with_user=False)
        return data

    def _reaction_payload(self, message: Message, key: str, users: set[int]) -> dict[str, Any]:
        return {
            "emoji": message.reaction_emojis[key].payload(),
            "count": len(users),
            "count_details": {"burst": 0, "normal": len(users)},
            "burst_colors": [],
            "me": self.bot_user.id in users,
            "me_burst": False,
            "burst_me": False,
        }

    # ------------------------------------------------------------------ queries

    def channel_history(self, channel_id: int) -> list[Message]:
        """Visible (non-deleted, non-ephemeral) messages of a channel, oldest first."""
        return sorted(
            (
                m
                for m in self.messages.values()
                if m.channel_id == channel_id and not m.deleted and not m.ephemeral
            ),
            key=lambda m: m.id,
        )

    def history_page(
        self,
        channel_id: int,
        *,
        limit: int = 50,
        before: int | None = None,
        after: int | None = None,
        around: int | None = None,
    ) -> list[Message]:
        """``GET /channels/{id}/messages`` semantics: newest first, 1..100 items."""
        limit = max(1, min(100, limit))
        msgs = self.channel_history(channel_id)
        if around is not None:
            older = [m for m in msgs if m.id < around][-(limit // 2) :] if limit > 1 else []
            newer = [m for m in msgs if m.id >= around][: limit - len(older)]
            page = older + newer
        elif after is not None:
            page = [m for m in msgs if m.id > after][:limit]
        else:
            if before is not None:
                msgs = [m for m in msgs if m.id < before]
            page = msgs[-limit:]
        return sorted(page, key=lambda m: m.id, reverse=True)

    # ------------------------------------------------------------------ reactions

    def set_reaction(self, message: Message, emoji: EmojiRef, user_id: int, add: bool) -> bool:
        """Add/remove one user's reaction; returns whether anything changed."""
        users = message.reactions.get(emoji.key)
        if add:
            if users is None:
                message.reactions[emoji.key] = users = set()
                message.reaction_emojis[emoji.key] = emoji
            if user_id in users:
                return False
            users.add(user_id)
            return True
        if users is None or user_id not in users:
            return False
        users.discard(user_id)
        if not users:
            del message.reactions[emoji.key]
            del message.reaction_emojis[emoji.key]
        return True

    # ------------------------------------------------------------------ messages

    def _attachments(
        self, channel_id: int, payload: dict[str, Any], files: list[dict[str, Any]]
    ) -> list:
        """Attachment objects for uploaded ``files[n]`` parts (plus kept existing ones on edit)."""
        described = {str(a.get("id")): a for a in payload.get("attachments") or []}
        out = []
        for index, upload in enumerate(files):
            attachment_id = self.snowflake()
            self.files[attachment_id] = upload.get("data", b"")
            meta = described.get(str(index), {})
            filename = upload.get("filename") or meta.get("filename") or f"file{index}"
            url = f"https://cdn.discordapp.com/attachments/{channel_id}/{attachment_id}/{filename}"
            out.append(
                {
                    "id": str(attachment_id),
                    "filename": filename,
                    "size": upload.get("size", 0),
                    "url": url,
                    "proxy_url": url,
                    "content_type": upload.get("content_type"),
                    "description": meta.get("description"),
                }
            )
        return out

    @staticmethod
    def _embeds(payload: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"type": "rich", **embed} for embed in payload.get("embeds") or []]

    def new_message(
        self,
        channel: Channel,
        author_id: int,
        payload: dict[str, Any],
        files: list[dict[str, Any]] | None = None,
        **fields: Any,
    ) -> Message:
        """Create and store a message from a create-message style body."""
        flags = int(payload.get("flags") or 0) & (FLAG_EPHEMERAL | 4 | 4096)
        message = Message(
            id=self.snowflake(),
            channel_id=channel.id,
            guild_id=channel.guild_id,
            author_id=author_id,
            content=payload.get("content") or "",
            embeds=self._embeds(payload),
            flags=flags | int(fields.pop("flags", 0)),
            type=19 if payload.get("message_reference") else 0,
            allowed_mentions=payload.get("allowed_mentions"),
            components=list(payload.get("components") or []),
            attachments=self._attachments(channel.id, payload, files or []),
            tts=bool(payload.get("tts")),
            nonce=payload.get("nonce"),
            message_reference=payload.get("message_reference"),
        )
        for key, value in fields.items():
            setattr(message, key, value)
        if message.message_reference is not None:
            message.message_reference = {
                "type": 0,
                "channel_id": str(channel.id),
                **({"guild_id": str(channel.guild_id)} if channel.guild_id else {}),
                **message.message_reference,
            }
        self.messages[message.id] = message
        if not message.ephemeral:
            channel.last_message_id = message.id
        return message

    def apply_edit(
        self, message: Message, payload: dict[str, Any], files: list[dict[str, Any]] | None = None
    ) -> None:
        """Apply an edit-message body (only the keys present change)."""
        if "content" in payload:
            message.content = payload["content"] or ""
        if "embeds" in payload:
            message.embeds = self._embeds(payload)
        if "components" in payload:
            message.components = list(payload["components"] or [])
        if "allowed_mentions" in payload:
            message.allowed_mentions = payload["allowed_mentions"]
        if "flags" in payload and payload["flags"] is not None:
            keep = message.flags & (FLAG_EPHEMERAL | 4096)
            message.flags = keep | (int(payload["flags"]) & 4)
        if "attachments" in payload or files:
            kept_ids = {str(a.get("id")) for a in payload.get("attachments") or []}
            kept = [a for a in message.attachments if a["id"] in kept_ids]
            message.attachments = kept + self._attachments(message.channel_id, payload, files or [])
        message.flags &= ~FLAG_LOADING
        message.edited_at = utcnow()
