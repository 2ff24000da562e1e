"""A fake Discord (REST API v10 + JSON gateway) on loopback, for end-to-end
tests of bots built on the real discord.py client.

    async with FakeDiscord() as fake:
        guild = fake.add_guild()
        async with running_client(MyBot(guild_ready_timeout=0.05), fake) as bot:
            await bot.tree.sync()
            record = await fake.invoke_command(user_id=42, name="prompt",
                                               options={"keywords": "dragons", "count": 2})
            [message] = await record.wait_messages(1)

Modules:

* ``server``: FakeDiscord, the control API tests call;
* ``models``: entities, snowflakes, permission bits; ``state``: the store and its JSON;
* ``gateway``: websocket protocol, sharded like Discord (a guild's events reach only the
  connection of shard ``(guild_id >> 22) % shard_count``); ``events``: dispatch builders;
* ``rest``, ``routes``, ``interactions``: HTTP endpoints; ``validation``: Discord's limits;
* ``records``: what tests inspect; ``dpy``: discord.py glue; ``fixtures``: pytest.
"""

from .dpy import running_client, use_fake_discord
from .gateway import Intent
from .interactions import CommandNotPermitted, CommandNotSynced
from .models import (
    ALL_PERMISSIONS,
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    Channel,
    EmojiRef,
    Guild,
    Member,
    Message,
    Overwrite,
    Perm,
    Role,
    User,
)
from .records import CallbackAttempt, FailureRule, FakeTimeout, InteractionRecord, RequestRecord
from .server import FakeDiscord

FakeMessage = Message

__all__ = [
    "ALL_PERMISSIONS",
    "DEFAULT_BOT_PERMISSIONS",
    "DEFAULT_EVERYONE_PERMISSIONS",
    "FLAG_EPHEMERAL",
    "FLAG_LOADING",
    "CallbackAttempt",
    "Channel",
    "CommandNotPermitted",
    "CommandNotSynced",
    "EmojiRef",
    "FailureRule",
    "FakeDiscord",
    "FakeMessage",
    "FakeTimeout",
    "Guild",
    "Intent",
    "InteractionRecord",
    "Member",
    "Message",
    "Overwrite",
    "Perm",
    "RequestRecord",
    "Role",
    "User",
    "running_client",
    "use_fake_discord",
]
