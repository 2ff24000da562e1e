"""Glue for pointing the real discord.py client at a :class:`FakeDiscord`.

discord.py reads ``Route.BASE`` whenever it builds a request and
``DiscordWebSocket.DEFAULT_GATEWAY`` whenever it (re)connects without a resume
URL, so the patch must stay in place for the client's whole lifetime.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import discord

    from .server import FakeDiscord

ClientT = TypeVar("ClientT", bound="discord.Client")


@contextlib.contextmanager
def use_fake_discord(fake: FakeDiscord) -> Iterator[None]:
    """Set ``discord.http.Route.BASE`` and ``DiscordWebSocket.DEFAULT_GATEWAY`` to the
    fake's URLs; restore the previous values on exit."""
    import discord.gateway
    import discord.http
    import yarl

    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = fake.api_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway


@contextlib.asynccontextmanager
async def running_client(
    client: ClientT,
    fake: FakeDiscord,
    *,
    token: str | None = None,
    ready_timeout: float = 5.0,
) -> AsyncIterator[ClientT]:
    """Log ``client`` in against ``fake`` (with ``token``, default: the fake's own),
    run ``client.connect()`` in a task and wait
    for ``on_ready``; on exit close the client and await the task (no leaked sessions).

    Pass ``guild_ready_timeout=0.05`` (or so) to the client to make ``on_ready`` fast.
    """
    with use_fake_discord(fake):
        task: asyncio.Task[None] | None = None
        try:
            await client.login(token or fake.token or "fake-bot-token")
            task = asyncio.create_task(
                client.connect(reconnect=True), name="discord-client-connect"
            )
            ready = asyncio.ensure_future(client.wait_until_ready())
            done, _ = await asyncio.wait(
                {ready, task}, timeout=ready_timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if ready not in done:
                ready.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ready
                if task.done():
                    task.result()  # re-raise the connection error
                    raise RuntimeError("client.connect() returned before the client became ready")
                raise TimeoutError(f"discord client not ready after {ready_timeout}s")
            yield client
        finally:
            await client.close()
            if task is not None:
                try:
                    await asyncio.wait_for(task, 5.0)
                except (asyncio.CancelledError, TimeoutError):
                    task.cancel()
