"""Builders for the gateway DISPATCH events the fake emits when its state changes.

Each method mirrors what Discord sends for the corresponding change, including
intent gating (e.g. MESSAGE_REACTION_ADD needs GUILD_MESSAGE_REACTIONS) and
MESSAGE_CONTENT redaction of other users' messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .gateway import Intent
from .models import Channel, EmojiRef, Guild, Member, Message, Role

if TYPE_CHECKING:
    from .server import FakeDiscord


class EventEmitter:
    """Turns state changes into DISPATCH frames on the fake's gateway hub."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake

    @property
    def _state(self):
        return self.fake.state

    def _dispatch(self, event: str, data: dict[str, Any], intent: int | None = None) -> int | None:
        return self.fake.gateway.dispatch(event, data, intent)

    # ------------------------------------------------------------ messages

    def _message_intent(self, message: Message, guild_intent: int, dm_intent: int) -> int:
        return guild_intent if message.guild_id is not None else dm_intent

    def _redact(self, message: Message) -> bool:
        """Whether the MESSAGE_CONTENT intent would hide this message's content from the bot."""
        session = self.fake.gateway.session_for(message.guild_id)
        if session is None or session.has_intent(Intent.MESSAGE_CONTENT):
            return False
        bot_id = self._state.bot_user.id
        if message.author_id == bot_id or message.guild_id is None:
            return False
        return f"<@{bot_id}>" not in message.content and f"<@!{bot_id}>" not in message.content

    def message_create(self, message: Message) -> None:
        if message.ephemeral:
            return
        data = self._state.message_payload(
            message, gateway=True, redact_content=self._redact(message)
        )
        intent = self._message_intent(message, Intent.GUILD_MESSAGES, Intent.DIRECT_MESSAGES)
        self._dispatch("MESSAGE_CREATE", data, intent)

    def message_update(self, message: Message) -> None:
        if message.ephemeral:
            return
        data = self._state.message_payload(
            message, gateway=True, redact_content=self._redact(message)
        )
        intent = self._message_intent(message, Intent.GUILD_MESSAGES, Intent.DIRECT_MESSAGES)
        self._dispatch("MESSAGE_UPDATE", data, intent)

    def message_delete(self, message: Message) -> None:
        if message.ephemeral:
            return
        data: dict[str, Any] = {"id": str(message.id), "channel_id": str(message.channel_id)}
        if message.guild_id is not None:
            data["guild_id"] = str(message.guild_id)
        intent = self._message_intent(message, Intent.GUILD_MESSAGES, Intent.DIRECT_MESSAGES)
        self._dispatch("MESSAGE_DELETE", data, intent)

    def reaction(self, message: Message, emoji: EmojiRef, user_id: int, add: bool) -> None:
        """MESSAGE_REACTION_ADD / MESSAGE_REACTION_REMOVE (also for the bot's own reactions)."""
        data: dict[str, Any] = {
            "user_id": str(user_id),
            "channel_id": str(message.channel_id),
            "message_id": str(message.id),
            "emoji": emoji.payload(),
            "burst": False,
            "type": 0,
        }
        if message.guild_id is not None:
            data["guild_id"] = str(message.guild_id)
        if add:
            data["message_author_id"] = str(message.author_id)
            data["burst_colors"] = []
            member = self._state.member(message.guild_id, user_id) if message.guild_id else None
            if member is not None:
                data["member"] = member.payload()
        intent = self._message_intent(
            message, Intent.GUILD_MESSAGE_REACTIONS, Intent.DIRECT_MESSAGE_REACTIONS
        )
        event = "MESSAGE_REACTION_ADD" if add else "MESSAGE_REACTION_REMOVE"
        self._dispatch(event, data, intent)

    def reactions_cleared(self, message: Message, emoji: EmojiRef | None) -> None:
        data: dict[str, Any] = {
            "channel_id": str(message.channel_id),
            "message_id": str(message.id),
        }
        if message.guild_id is not None:
            data["guild_id"] = str(message.guild_id)
        intent = self._message_intent(
            message, Intent.GUILD_MESSAGE_REACTIONS, Intent.DIRECT_MESSAGE_REACTIONS
        )
        if emoji is None:
            self._dispatch("MESSAGE_REACTION_REMOVE_ALL", data, intent)
        else:
            self._dispatch(
                "MESSAGE_REACTION_REMOVE_EMOJI", data | {"emoji": emoji.payload()}, intent
            )

    # ------------------------------------------------------------ guild structure

    def guild_create(self, guild: Guild) -> None:
        self._dispatch("GUILD_CREATE", self._state.guild_create_payload(guild), Intent.GUILDS)

    def channel(self, channel: Channel, created: bool) -> None:
        event = "CHANNEL_CREATE" if created else "CHANNEL_UPDATE"
        self._dispatch(event, self._state.channel_payload(channel), Intent.GUILDS)

    def channel_deleted(self, channel: Channel) -> None:
        self._dispatch("CHANNEL_DELETE", self._state.channel_payload(channel), Intent.GUILDS)

    def role_create(self, role: Role) -> None:
        data = {"guild_id": str(role.guild_id), "role": role.payload()}
        self._dispatch("GUILD_ROLE_CREATE", data, Intent.GUILDS)

    def member_add(self, member: Member) -> None:
        data = member.payload() | {"guild_id": str(member.guild_id)}
        self._dispatch("GUILD_MEMBER_ADD", data, Intent.GUILD_MEMBERS)

    def member_update(self, member: Member) -> None:
        data = member.payload() | {"guild_id": str(member.guild_id)}
        self._dispatch("GUILD_MEMBER_UPDATE", data, Intent.GUILD_MEMBERS)
