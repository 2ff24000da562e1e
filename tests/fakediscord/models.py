"""The Discord entities the fake knows about (users, roles, members, channels,
guilds, messages, the application) plus snowflakes, permission bits and emoji
parsing. Entities with a fixed JSON shape serialise themselves (``payload()``);
shapes that need cross-references live in :class:`~.state.State`.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass, field
from enum import IntFlag
from typing import Any

DISCORD_EPOCH_MS = 1420070400000


class SnowflakeGenerator:
    """Emulates Discord's id generator: ``ms_since_2015 << 22 | worker << 17 | n``.

    Ids are strictly increasing, so ordering by id equals creation order (which
    history pagination and reaction-user pagination rely on).
    """

    def __init__(self) -> None:
        self._last = 0

    def __call__(self) -> int:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        self._last = max((ms << 22) | (1 << 17), self._last + 1)
        return self._last

    def skip_to(self, ms: int) -> None:
        """Make the next id no older than ``ms`` (milliseconds since Discord's epoch)."""
        self._last = max(self._last, ((ms << 22) | (1 << 17)) - 1)


def snowflake_time(snowflake: int) -> dt.datetime:
    """Creation time encoded in a snowflake (UTC)."""
    ms = (snowflake >> 22) + DISCORD_EPOCH_MS
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def iso(when: dt.datetime | None) -> str | None:
    """Discord's ISO-8601 timestamp format."""
    return when.isoformat() if when is not None else None


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Perm(IntFlag):
    """Discord permission bits (the subset a text bot cares about)."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_AUDIT_LOG = 1 << 7
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    SEND_TTS_MESSAGES = 1 << 12
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    CHANGE_NICKNAME = 1 << 26
    MANAGE_ROLES = 1 << 28
    USE_APPLICATION_COMMANDS = 1 << 31
    SEND_MESSAGES_IN_THREADS = 1 << 38
    USE_EXTERNAL_APPS = 1 << 50


ALL_PERMISSIONS = (1 << 51) - 1

#: What @everyone gets in a freshly created guild (roughly Discord's defaults).
DEFAULT_EVERYONE_PERMISSIONS = int(
    Perm.CREATE_INSTANT_INVITE
    | Perm.ADD_REACTIONS
    | Perm.VIEW_CHANNEL
    | Perm.SEND_MESSAGES
    | Perm.EMBED_LINKS
    | Perm.ATTACH_FILES
    | Perm.READ_MESSAGE_HISTORY
    | Perm.MENTION_EVERYONE
    | Perm.USE_EXTERNAL_EMOJIS
    | Perm.CHANGE_NICKNAME
    | Perm.USE_APPLICATION_COMMANDS
    | Perm.SEND_MESSAGES_IN_THREADS
    | Perm.USE_EXTERNAL_APPS
)

#: The permissions of the bot's managed integration role (what an invite link grants).
DEFAULT_BOT_PERMISSIONS = int(
    Perm.VIEW_CHANNEL
    | Perm.SEND_MESSAGES
    | Perm.EMBED_LINKS
    | Perm.ATTACH_FILES
    | Perm.READ_MESSAGE_HISTORY
    | Perm.ADD_REACTIONS
    | Perm.USE_EXTERNAL_EMOJIS
    | Perm.USE_APPLICATION_COMMANDS
    | Perm.SEND_MESSAGES_IN_THREADS
)


def perm_value(value: Any) -> int:
    """Accept an int, a :class:`Perm` or anything with ``.value`` (e.g. ``discord.Permissions``)."""
    if value is None:
        return 0
    return int(getattr(value, "value", value))


# Message flags used by the fake.
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7

# Channel types.
GUILD_TEXT = 0
DM = 1
GUILD_VOICE = 2
GUILD_CATEGORY = 4


# --------------------------------------------------------------------------- emoji


_CUSTOM_EMOJI = re.compile(r"^<?(a)?:?([A-Za-z0-9_~]{1,32}):(\d{15,21})>?$")


@dataclass(frozen=True)
class EmojiRef:
    """An emoji as used in reaction routes: unicode (``"👍"``) or custom (``"name:id"``)."""

    name: str
    id: int | None = None
    animated: bool = False

    @property
    def key(self) -> str:
        """The key used by :meth:`FakeDiscord.reactions` (``"👍"`` or ``"name:id"``)."""
        return self.name if self.id is None else f"{self.name}:{self.id}"

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": str(self.id) if self.id else None, "name": self.name}
        if self.id is not None:
            data["animated"] = self.animated
        return data

    @classmethod
    def parse(cls, raw: str) -> EmojiRef:
        """Parse ``👍``, ``name:id``, ``a:name:id`` or ``<:name:id>`` (already percent-decoded)."""
        raw = raw.strip()
        match = _CUSTOM_EMOJI.match(raw)
        if match:
            return cls(name=match.group(2), id=int(match.group(3)), animated=bool(match.group(1)))
        return cls(name=raw)

    def looks_valid(self) -> bool:
        """Discord rejects plain ASCII words like ``thumbsup`` with *Unknown Emoji*."""
        if self.id is not None:
            return True
        return bool(self.name) and not self.name.isascii()


# --------------------------------------------------------------------------- entities


@dataclass
class User:
    """A Discord user (the bot itself or a test user)."""

    id: int
    username: str
    bot: bool = False
    global_name: str | None = None
    discriminator: str = "0"
    avatar: str | None = None

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.username,
            "discriminator": self.discriminator,
            "global_name": self.global_name,
            "avatar": self.avatar,
            "bot": self.bot,
            "system": False,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
        }


@dataclass
class Role:
    """A guild role; the @everyone role has the guild's id."""

    id: int
    guild_id: int
    name: str
    permissions: int = 0
    position: int = 0
    managed: bool = False
    color: int = 0
    hoist: bool = False
    mentionable: bool = False
    bot_id: int | None = None

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "name": self.name,
            "color": self.color,
            "colors": {
                "primary_color": self.color,
                "secondary_color": None,
                "tertiary_color": None,
            },
            "hoist": self.hoist,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.managed,
            "mentionable": self.mentionable,
            "flags": 0,
        }
        if self.bot_id is not None:
            data["tags"] = {"bot_id": str(self.bot_id)}
        return data


@dataclass
class Member:
    """A user's membership in a guild."""

    user: User
    guild_id: int
    roles: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_at: dt.datetime = field(default_factory=utcnow)

    @property
    def id(self) -> int:
        return self.user.id

    def payload(self, *, with_user: bool = True, permissions: int | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "roles": [str(r) for r in self.roles],
            "joined_at": iso(self.joined_at),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.user.payload()
        if permissions is not None:
            data["permissions"] = str(permissions)
        return data


@dataclass
class Overwrite:
    """A channel permission overwrite (``type`` 0 = role, 1 = member)."""

    id: int
    type: int = 0
    allow: int = 0
    deny: int = 0

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "type": self.type,
            "allow": str(self.allow),
            "deny": str(self.deny),
        }


@dataclass
class Channel:
    """A guild channel or a DM channel (``guild_id`` None, ``recipients`` set)."""

    id: int
    guild_id: int | None
    name: str
    type: int = GUILD_TEXT
    position: int = 0
    topic: str | None = None
    parent_id: int | None = None
    nsfw: bool = False
    overwrites: list[Overwrite] = field(default_factory=list)
    recipients: list[int] = field(default_factory=list)
    last_message_id: int | None = None


@dataclass
class Guild:
    """A guild with its roles, members and channels (all keyed by id)."""

    id: int
    name: str
    owner_id: int
    roles: dict[int, Role] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    channels: dict[int, Channel] = field(default_factory=dict)
    joined_at: dt.datetime = field(default_factory=utcnow)

    @property
    def everyone(self) -> Role:
        return self.roles[self.id]

    @property
    def text_channels(self) -> list[Channel]:
        return [c for c in self.channels.values() if c.type == GUILD_TEXT]

    @property
    def channel(self) -> Channel:
        """The default (first) text channel — what ``add_guild()`` created."""
        channels = self.text_channels
        if not channels:
            raise LookupError(f"guild {self.id} has no text channel")
        return channels[0]


@dataclass
class Message:
    """A message in a channel, with its reactions (``emoji key -> user ids``)."""

    id: int
    channel_id: int
    guild_id: int | None
    author_id: int
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    flags: int = 0
    type: int = 0
    allowed_mentions: dict[str, Any] | None = None
    components: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    tts: bool = False
    nonce: str | int | None = None
    application_id: int | None = None
    webhook_id: int | None = None
    interaction_id: int | None = None
    interaction_meta: dict[str, Any] | None = None
    message_reference: dict[str, Any] | None = None
    edited_at: dt.datetime | None = None
    deleted: bool = False
    reactions: dict[str, set[int]] = field(default_factory=dict)
    reaction_emojis: dict[str, EmojiRef] = field(default_factory=dict)

    @property
    def created_at(self) -> dt.datetime:
        return snowflake_time(self.id)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & FLAG_EPHEMERAL)

    @property
    def loading(self) -> bool:
        """True for a deferred ("Bot is thinking…") response not yet filled in."""
        return bool(self.flags & FLAG_LOADING)


@dataclass
class Application:
    """The bot's application (its id equals the bot user's id, as on Discord)."""

    id: int
    name: str
    owner: User
    description: str = ""
    flags: int = 0
    #: (user, role) of each team member when a team owns the application, else empty
    team: list[tuple[User, str]] = field(default_factory=list)
    team_id: int = 0

    def team_payload(self) -> dict[str, Any] | None:
        if not self.team:
            return None
        return {
            "id": str(self.team_id),
            "name": f"{self.name} team",
            "icon": None,
            "owner_user_id": str(self.team[0][0].id),
            "members": [
                {
                    "user": user.payload(),
                    "team_id": str(self.team_id),
                    "membership_state": 2,
                    "permissions": ["*"],
                    "role": role,
                }
                for user, role in self.team
            ],
        }

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "description": self.description,
            "summary": "",
            "type": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "owner": self.owner.payload(),
            "team": self.team_payload(),
            "flags": self.flags,
            "tags": [],
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "approximate_guild_count": 0,
            "integration_types_config": {"0": {}},
        }
