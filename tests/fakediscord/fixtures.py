"""pytest fixtures for :class:`FakeDiscord`.

Use from a conftest with ``pytest_plugins = ["tests.fakediscord.fixtures"]`` or
``from tests.fakediscord.fixtures import fake_discord  # noqa: F401``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from .server import FakeDiscord


@pytest_asyncio.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """A started FakeDiscord with one guild (``fake.guilds``) holding one text channel."""
    fake = FakeDiscord()
    await fake.start()
    fake.add_guild()
    try:
        yield fake
    finally:
        await fake.stop()
