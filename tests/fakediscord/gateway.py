"""Emulation of the Discord gateway: one websocket per bot connection, API v10,
``encoding=json``, uncompressed TEXT frames.

Protocol handled (https://discord.com/developers/docs/events/gateway):

* HELLO (op 10) on connect, HEARTBEAT (op 1) answered with HEARTBEAT_ACK (op 11);
* IDENTIFY (op 2) -> READY (with ``resume_gateway_url``) -> one GUILD_CREATE per guild;
* RESUME (op 6) -> replay of missed dispatches -> RESUMED, or INVALID_SESSION
  (op 9, ``d=false``) when the session is unknown/invalidated, after which
  discord.py re-IDENTIFIES;
* REQUEST_GUILD_MEMBERS (op 8) -> GUILD_MEMBERS_CHUNK; PRESENCE_UPDATE (op 3) stored.

discord.py asks for ``compress=zlib-stream``/``zstd-stream`` in the URL but
decodes TEXT frames as plain JSON, so the fake never compresses.

Sharding: IDENTIFY may carry ``shard: [id, count]`` (none means ``[0, 1]``). Each shard
has one live session; a guild belongs to shard ``(guild_id >> 22) % count`` and its
dispatches (GUILD_CREATE, INTERACTION_CREATE, reactions, ...) go only to that shard's
session, DMs to shard 0, as Discord routes them. READY lists only the shard's guilds. A new
IDENTIFY for a shard supersedes the shard's old session (a restarted process), and one with
a different shard count supersedes every shard (a resharded bot). Dispatches are buffered per
session so a RESUME replays what was missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import deque
from dataclasses import dataclass, field
from enum import IntFlag
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from .server import FakeDiscord

log = logging.getLogger(__name__)

OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_PRESENCE_UPDATE = 3
OP_VOICE_STATE_UPDATE = 4
OP_RESUME = 6
OP_RECONNECT = 7
OP_REQUEST_GUILD_MEMBERS = 8
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11


class Intent(IntFlag):
    """Gateway intents that gate which dispatches the fake sends."""

    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_MESSAGES = 1 << 9
    GUILD_MESSAGE_REACTIONS = 1 << 10
    DIRECT_MESSAGES = 1 << 12
    DIRECT_MESSAGE_REACTIONS = 1 << 13
    MESSAGE_CONTENT = 1 << 15


class Connection:
    """One accepted websocket. Frames are queued and written by a single task,
    so dispatch order is preserved and senders never block."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.session: GatewaySession | None = None
        self._queue: asyncio.Queue[dict[str, Any] | asyncio.Future[None]] = asyncio.Queue()
        self._writer = asyncio.create_task(self._write(), name="fakediscord-gateway-writer")

    def send(self, frame: dict[str, Any]) -> None:
        if not self._writer.done():
            self._queue.put_nowait(frame)

    async def flush(self, timeout: float = 2.0) -> None:
        """Wait until everything queued so far is written to the socket."""
        if self._writer.done():
            return
        marker: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(marker)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(marker), timeout)

    async def _write(self) -> None:
        try:
            while True:
                item = await self._queue.get()
                if isinstance(item, asyncio.Future):
                    if not item.done():
                        item.set_result(None)
                    continue
                if self.ws.closed:
                    break
                await self.ws.send_str(json.dumps(item, separators=(",", ":"), ensure_ascii=False))
        except (ConnectionResetError, RuntimeError) as exc:
            log.debug("gateway writer stopped: %r", exc)
        finally:
            while not self._queue.empty():
                item = self._queue.get_nowait()
                if isinstance(item, asyncio.Future) and not item.done():
                    item.set_result(None)

    async def stop(self) -> None:
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer


@dataclass(eq=False)
class GatewaySession:
    """A gateway session created by IDENTIFY; survives reconnects via RESUME."""

    id: str
    intents: int
    identify: dict[str, Any]
    seq: int = 0
    buffer: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=5000))
    connection: Connection | None = None
    presence: dict[str, Any] | None = None
    invalidated: bool = False
    resumes: int = 0
    shard_id: int = 0
    shard_count: int = 1

    def has_intent(self, intent: int | None) -> bool:
        return intent is None or bool(self.intents & intent)


#: events whose payload names its guild as ``id`` rather than ``guild_id``
_GUILD_EVENTS = frozenset({"GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE"})


def shard_of(guild_id: int, shard_count: int) -> int:
    """Discord's routing rule: the shard that receives a guild's events."""
    return (guild_id >> 22) % shard_count


def _event_guild(event: str, data: dict[str, Any]) -> int | None:
    raw = data.get("id") if event in _GUILD_EVENTS else data.get("guild_id")
    return int(raw) if raw else None


class GatewayHub:
    """Accepts gateway websockets and routes each dispatch to the shard owning its guild."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.sessions: dict[str, GatewaySession] = {}
        #: the last session that identified (any shard)
        self.current: GatewaySession | None = None
        #: the live session of each shard id, all of ``shard_count`` shards
        self.shards: dict[int, GatewaySession] = {}
        self.shard_count = 1
        self.connections: set[Connection] = set()
        self.identify_count = 0
        self.resume_count = 0
        self.heartbeats = 0
        #: ``("identify"|"resume"|"invalid"|"close", session_id)`` in order.
        self.log: list[tuple[str, str | None]] = []

    # ------------------------------------------------------------ dispatching

    def dispatch(
        self,
        event: str,
        data: dict[str, Any],
        intent: int | None = None,
        guild_id: int | None = None,
    ) -> int | None:
        """Queue a DISPATCH to the session of the shard owning the event's guild (``guild_id``,
        else read from ``data``; none: shard 0); returns its sequence number, or None when that
        shard has no session or it lacks ``intent``."""
        session = self.session_for(guild_id if guild_id is not None else _event_guild(event, data))
        if session is None or not session.has_intent(intent):
            return None
        return self._dispatch_to(session, event, data)

    def shard_for(self, guild_id: int | None) -> int:
        return 0 if guild_id is None else shard_of(guild_id, self.shard_count)

    def session_for(self, guild_id: int | None) -> GatewaySession | None:
        """The live session receiving ``guild_id``'s events (None: DMs, shard 0)."""
        return self.shards.get(self.shard_for(guild_id))

    def _dispatch_to(self, session: GatewaySession, event: str, data: dict[str, Any]) -> int:
        session.seq += 1
        frame = {"op": OP_DISPATCH, "t": event, "s": session.seq, "d": data}
        session.buffer.append(frame)
        if session.connection is not None:
            session.connection.send(frame)
        self.fake.notifier.notify()
        return session.seq

    async def flush(self) -> None:
        """Wait until queued frames of every shard's connection hit the socket."""
        for session in list(self.shards.values()):
            if session.connection is not None:
                await session.connection.flush()

    @property
    def connected(self) -> bool:
        return self.current is not None and self.current.connection is not None

    # ------------------------------------------------------------ control

    async def close_current(self, code: int = 4000, message: str = "") -> None:
        """Drop the bot's websocket (code 4000 is resumable for discord.py)."""
        if self.current is None or self.current.connection is None:
            return
        conn = self.current.connection
        self.log.append(("close", self.current.id))
        await conn.ws.close(code=code, message=message.encode())

    def send_op(self, op: int, data: Any = None) -> None:
        if self.current is not None and self.current.connection is not None:
            self.current.connection.send({"op": op, "d": data, "s": None, "t": None})

    def invalidate(self, resumable: bool = False) -> None:
        """Send INVALID_SESSION; non-resumable also makes a later RESUME fail."""
        if self.current is None:
            return
        if not resumable:
            self.current.invalidated = True
        self.send_op(OP_INVALID_SESSION, resumable)

    async def close_all(self) -> None:
        for conn in list(self.connections):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    conn.ws.close(code=1001, message=b"server shutting down"), 1.0
                )
            await conn.stop()
        self.connections.clear()

    # ------------------------------------------------------------ websocket

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """aiohttp handler for ``GET /gateway`` upgrades (any path ending in the gateway route)."""
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        conn = Connection(ws)
        self.connections.add(conn)
        try:
            if request.query.get("encoding", "json") != "json":
                await ws.close(code=4002, message=b"fakediscord only speaks encoding=json")
                return ws
            conn.send(
                {
                    "op": OP_HELLO,
                    "d": {
                        "heartbeat_interval": int(self.fake.heartbeat_interval * 1000),
                        "_trace": ["fake"],
                    },
                    "s": None,
                    "t": None,
                }
            )
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    try:
                        frame = json.loads(msg.data)
                    except ValueError:
                        await ws.close(code=4002, message=b"Error while decoding payload.")
                        break
                    await self._on_frame(conn, frame)
                elif msg.type is WSMsgType.BINARY:
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                    break
                elif msg.type is WSMsgType.ERROR:
                    break
        finally:
            self.connections.discard(conn)
            if conn.session is not None and conn.session.connection is conn:
                conn.session.connection = None
            await conn.stop()
            self.fake.notifier.notify()
        return ws

    async def _on_frame(self, conn: Connection, frame: dict[str, Any]) -> None:
        op, data = frame.get("op"), frame.get("d")
        if op == OP_HEARTBEAT:
            self.heartbeats += 1
            conn.send({"op": OP_HEARTBEAT_ACK, "d": None, "s": None, "t": None})
        elif op == OP_IDENTIFY:
            await self._identify(conn, data or {})
        elif op == OP_RESUME:
            await self._resume(conn, data or {})
        elif conn.session is None:
            await conn.ws.close(code=4003, message=b"Not authenticated.")
        elif op == OP_PRESENCE_UPDATE:
            conn.session.presence = data
        elif op == OP_REQUEST_GUILD_MEMBERS:
            self._members_chunk(conn.session, data or {})
        elif op == OP_VOICE_STATE_UPDATE:
            pass
        else:
            await conn.ws.close(code=4001, message=b"Unknown opcode.")

    def _token_ok(self, token: str | None) -> bool:
        expected = self.fake.token
        if not token:
            return False
        token = token.removeprefix("Bot ").strip()
        return expected is None or token == expected

    async def _identify(self, conn: Connection, data: dict[str, Any]) -> None:
        if conn.session is not None:
            await conn.ws.close(code=4005, message=b"Already authenticated.")
            return
        if not self._token_ok(data.get("token")):
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        intents = data.get("intents")
        if not isinstance(intents, int):
            await conn.ws.close(code=4013, message=b"Invalid intent(s).")
            return
        shard_id, shard_count = data.get("shard") or (0, 1)
        if not 0 <= shard_id < shard_count:
            await conn.ws.close(code=4010, message=b"Invalid shard.")
            return
        session = GatewaySession(
            id=secrets.token_hex(16),
            intents=intents,
            identify=data,
            shard_id=shard_id,
            shard_count=shard_count,
        )
        session.presence = data.get("presence")
        await self._supersede(conn, shard_id, shard_count)
        self.sessions[session.id] = session
        self.current = session
        self.shards[shard_id] = session
        session.connection = conn
        conn.session = session
        self.identify_count += 1
        self.log.append(("identify", session.id))

        state = self.fake.state
        guilds = [
            g
            for g in state.guilds.values()
            if state.bot_user.id in g.members and shard_of(g.id, shard_count) == shard_id
        ]
        user = state.bot_user.payload() | {"verified": True, "mfa_enabled": False, "email": None}
        ready = {
            "v": 10,
            "user": user,
            "user_settings": {},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.fake.gateway_url,
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "application": {"id": str(state.application.id), "flags": state.application.flags},
            "_trace": ["fakediscord"],
        }
        if "shard" in data:
            ready["shard"] = data["shard"]
        self._dispatch_to(session, "READY", ready)
        for guild in guilds:
            self._dispatch_to(session, "GUILD_CREATE", state.guild_create_payload(guild))
        self.fake.notifier.notify()

    async def _supersede(self, conn: Connection, shard_id: int, shard_count: int) -> None:
        """A new IDENTIFY took a shard over (a restarted process: Discord would keep both for
        a while, we keep the newest); a new shard count takes every shard over."""
        if shard_count != self.shard_count:
            replaced, self.shards, self.shard_count = list(self.shards.values()), {}, shard_count
        else:
            replaced = [s for s in (self.shards.pop(shard_id, None),) if s is not None]
        for session in replaced:
            old, session.connection = session.connection, None
            if old is not None and old is not conn:
                with contextlib.suppress(Exception):
                    await old.ws.close(code=4000, message=b"superseded by a new IDENTIFY")

    async def _resume(self, conn: Connection, data: dict[str, Any]) -> None:
        session = self.sessions.get(str(data.get("session_id")))
        valid = (
            session is not None
            and self.shards.get(session.shard_id) is session
            and not session.invalidated
            and self._token_ok(data.get("token"))
        )
        if not valid or session is None:
            self.log.append(("invalid", data.get("session_id")))
            conn.send({"op": OP_INVALID_SESSION, "d": False, "s": None, "t": None})
            return
        if session.connection is not None and session.connection is not conn:
            old = session.connection
            session.connection = None
            with contextlib.suppress(Exception):
                await old.ws.close(code=4000, message=b"resumed elsewhere")
        session.connection = conn
        conn.session = session
        last_seen = data.get("seq") or 0
        for frame in list(session.buffer):
            if frame["s"] > last_seen:
                conn.send(frame)
        session.resumes += 1
        self.resume_count += 1
        self.log.append(("resume", session.id))
        self._dispatch_to(session, "RESUMED", {"_trace": ["fakediscord"]})

    def _members_chunk(self, session: GatewaySession, data: dict[str, Any]) -> None:
        guild = self.fake.state.guilds.get(int(data.get("guild_id", 0)))
        if guild is None:
            return
        members = list(guild.members.values())
        query = data.get("query")
        if query:
            members = [m for m in members if m.user.username.lower().startswith(query.lower())]
        user_ids = data.get("user_ids")
        if user_ids:
            wanted = {int(u) for u in (user_ids if isinstance(user_ids, list) else [user_ids])}
            members = [m for m in members if m.id in wanted]
        limit = data.get("limit") or 0
        if limit:
            members = members[:limit]
        chunk: dict[str, Any] = {
            "guild_id": str(guild.id),
            "members": [m.payload() for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if data.get("nonce"):
            chunk["nonce"] = data["nonce"]
        self._dispatch_to(session, "GUILD_MEMBERS_CHUNK", chunk)
