"""Self-test of the fake's buttons, modals and attachments against the real discord.py client:
a click reaches a persistent (dynamic) button after the bot restarts, a modal's limits are
held as Discord's client holds them, an update edits the clicked message, and an attached
file is downloaded from the fake."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest
import pytest_asyncio
from discord import app_commands

from tests.fakediscord import FakeDiscord, running_client

pytestmark = pytest.mark.asyncio
USER_ID = 4343


class CountButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"count:(?P<n>\d+)"):
    def __init__(self, n: int) -> None:
        super().__init__(discord.ui.Button(label=str(n), custom_id=f"count:{n}"))
        self.n = n

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> CountButton:
        return cls(int(match["n"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        view = discord.ui.View(timeout=None).add_item(CountButton(self.n + 1))
        await interaction.response.edit_message(content=f"count {self.n + 1}", view=view)


class NameModal(discord.ui.Modal, title="Your name"):
    name: discord.ui.TextInput[NameModal] = discord.ui.TextInput(
        label="Name", custom_id="name", max_length=10
    )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"hello {self.name.value}", ephemeral=True)


class ComponentBot(discord.Client):
    def __init__(self) -> None:
        super().__init__(intents=discord.Intents.default(), guild_ready_timeout=0.05)
        self.tree = app_commands.CommandTree(self)

        @self.tree.command(name="counter", description="A message with a persistent button")
        async def counter(interaction: discord.Interaction) -> None:
            view = discord.ui.View(timeout=None).add_item(CountButton(0))
            await interaction.response.send_message("count 0", view=view)

        @self.tree.command(name="ask", description="Open a modal")
        async def ask(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(NameModal())

        @self.tree.command(name="size", description="Read an attachment")
        async def size(interaction: discord.Interaction, file: discord.Attachment) -> None:
            data = await file.read()
            await interaction.response.send_message(f"{file.filename}: {data.decode()}")

    async def setup_hook(self) -> None:
        self.add_dynamic_items(CountButton)


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        server.add_guild("Components")
        yield server
        assert server.errors == []
        assert server.unhandled == []


@contextlib.asynccontextmanager
async def started(fake: FakeDiscord) -> AsyncIterator[ComponentBot]:
    client = ComponentBot()
    async with running_client(client, fake):
        await client.tree.sync()
        yield client


async def test_a_dynamic_button_survives_a_restart_and_updates_its_message(
    fake: FakeDiscord,
) -> None:
    async with started(fake):
        record = await fake.invoke_command(USER_ID, name="counter")
        [message] = await record.wait_messages(1)
        await fake.click_button(USER_ID, message, "count:0")
        await fake.wait_for(lambda: message.content == "count 1" or None)
    async with started(fake):  # a new process: only the custom_id carries the state
        click = await fake.click_button(USER_ID, message, "count:1")
        await fake.wait_for(lambda: message.content == "count 2" or None)
        assert click.callback_type == 7
    with pytest.raises(ValueError, match="no component"):
        await fake.click_button(USER_ID, message, "count:0")


async def test_a_modal_is_submitted_within_its_limits(fake: FakeDiscord) -> None:
    async with started(fake):
        opened = await fake.invoke_command(USER_ID, name="ask")
        assert opened.callback_type == 9 and opened.modal is not None
        with pytest.raises(ValueError, match="longer than 10"):
            await fake.submit_modal(opened, {"name": "x" * 11})
        with pytest.raises(ValueError, match="required"):
            await fake.submit_modal(opened, {"name": ""})
        submitted = await fake.submit_modal(opened, {"name": "Ada"})
        [reply] = await submitted.wait_messages(1)
        assert reply.content == "hello Ada" and reply.ephemeral


async def test_an_attachment_is_downloaded_from_the_fake(fake: FakeDiscord) -> None:
    async with started(fake):
        upload = fake.upload("notes.txt", b"twelve bytes")
        record = await fake.invoke_command(USER_ID, name="size", options={"file": upload})
        [reply] = await record.wait_messages(1)
        assert reply.content == "notes.txt: twelve bytes"
