"""`/prompts ...` end to end through the real discord.py client: add, import, submit and
approve, remove, list and export a server's own prompts, each seen by `/prompt` in its server
only, at once."""

from __future__ import annotations

import json

import pytest

from bot.client import PromptBot
from storage.database import Database
from storage.models import Prompt
from tests.fakediscord import FakeDiscord
from tests.helpers.bot import USER, results_of, wait_notice
from tests.helpers.guild_prompts import (
    A_PROMPT,
    CURATOR,
    MEMBER,
    add_prompt,
    fill_modal,
    jsonl,
    make_curator,
    private_text,
    prompts,
)

pytestmark = pytest.mark.slow  # every test starts the bot on the embedded shipped corpus


async def top_title(fake: FakeDiscord, keywords: str, guild_id: object = None) -> str:
    record = await fake.invoke_command(
        USER, guild_id=guild_id, name="prompt", options={"keywords": keywords}
    )
    [message] = await results_of(fake, record)
    return message.embeds[0]["title"]


async def test_added_prompt_is_found_at_once_in_its_server_only(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database
) -> None:
    [home] = fake.guilds.values()
    make_curator(fake)
    other = fake.add_guild("Other Club")
    answer = await add_prompt(fake, guild_id=home.id)
    assert answer.startswith("Added as `1`"), answer
    keywords = "lighthouse choir keeper hymn"
    assert await top_title(fake, keywords, home.id) == A_PROMPT["title"]
    assert await top_title(fake, keywords, other.id) != A_PROMPT["title"]
    with bot_db.session() as session:
        [row] = session.query(Prompt).filter(Prompt.guild_id.is_not(None)).all()
        assert (row.guild_id, row.local_id, row.added_by) == (str(home.id), "1", str(CURATOR))
        assert row.genres == ["Mystery", "supernatural"]  # mapped where the vocabulary knows it


async def test_near_duplicate_is_refused_with_the_existing_title(
    fake: FakeDiscord, bot: PromptBot
) -> None:
    make_curator(fake)
    await add_prompt(fake)
    again = dict(A_PROMPT, text=A_PROMPT["text"] + " ")  # same words, same embedding
    answer = await add_prompt(fake, again)
    assert "Not added" in answer and A_PROMPT["title"] in answer, answer


async def test_members_cannot_add_but_can_submit_and_a_curator_approves(
    fake: FakeDiscord, bot: PromptBot
) -> None:
    make_curator(fake)
    queue = fake.add_channel(name="prompt-queue")
    settings = await prompts(fake, CURATOR, "settings", queue=queue.id)
    assert "Moderation queue" in await private_text(settings)

    refused = await prompts(fake, MEMBER, "add")
    assert "Only server managers" in await wait_notice(refused)

    opened = await prompts(fake, MEMBER, "submit")
    submitted = await fill_modal(fake, opened, A_PROMPT)
    assert "moderator will review" in await private_text(submitted)
    [queued] = await fake.wait_for(lambda: fake.bot_messages(queue.id) or None)
    assert queued.embeds[0]["title"] == A_PROMPT["title"]

    not_allowed = await fake.click_button(
        MEMBER, queued, queued.components[0]["components"][0]["custom_id"]
    )
    assert "Only server managers" in await private_text(not_allowed)

    approve_id = queued.components[0]["components"][0]["custom_id"]
    await fake.click_button(CURATOR, queued, approve_id)
    await fake.wait_for(lambda: "approved" in queued.embeds[0]["footer"]["text"] or None)
    assert all(c.get("disabled") for c in queued.components[0]["components"])
    dm = fake.dm_channel(MEMBER)
    [told] = await fake.wait_for(lambda: fake.channel_messages(dm.id) or None)
    assert "approved" in told.content
    assert await top_title(fake, "lighthouse choir keeper hymn") == A_PROMPT["title"]


async def test_import_reports_bad_lines_and_imports_only_after_confirming(
    fake: FakeDiscord, bot: PromptBot
) -> None:
    make_curator(fake)
    good = {"id": "h1", **A_PROMPT}
    second = {
        "id": "h2",
        "title": "Salt Debt",
        "text": "A fishing town pays its debts to the sea in salt, and this year the sea "
        "sends a collector who walks up the beach in a drowned man's coat.",
        "genres": ["horror"],
    }
    data = jsonl(good, {"id": "h3"}, second) + b"not json\n"
    record = await prompts(fake, CURATOR, "import", file=fake.upload("mine.jsonl", data))
    [report] = await record.wait_messages(1)
    assert "2 of 4 line(s)" in report.content and "line 2" in report.content
    assert "line 4" in report.content
    assert "Salt Debt" not in str(bot.pool.serving_engine().prompts[-1].title)  # not yet
    confirm = report.components[0]["components"][0]["custom_id"]
    await fake.click_button(CURATOR, report, confirm)
    await fake.wait_for(lambda: "2 added" in report.content or None)
    assert await top_title(fake, "salt debt drowned collector") == "Salt Debt"


async def test_remove_list_and_export(fake: FakeDiscord, bot: PromptBot) -> None:
    make_curator(fake)
    await add_prompt(fake)
    listed = await private_text(await prompts(fake, MEMBER, "list"))
    assert "`1`" in listed and "The Lighthouse Choir" in listed
    exported = await prompts(fake, CURATOR, "export")
    [message] = await exported.wait_messages(1)
    [line] = fake.attachment_bytes(message.attachments[0]).decode().splitlines()
    assert json.loads(line)["id"] == "1"
    removed = await private_text(await prompts(fake, CURATOR, "remove", prompt_id="1"))
    assert removed.startswith("Removed")
    assert await top_title(fake, "lighthouse choir keeper hymn") != A_PROMPT["title"]
    again = await private_text(await prompts(fake, CURATOR, "remove", prompt_id="1"))
    assert "no prompt with id" in again


async def test_hostile_input_through_the_forms_and_files(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database
) -> None:
    make_curator(fake)
    opened = await prompts(fake, CURATOR, "add")
    limits = {
        c["components"][0]["custom_id"]: c["components"][0].get("max_length")
        for c in opened.modal["components"]  # type: ignore[index]
    }
    assert limits["title"] == 200 and limits["text"] == 4000  # the file format's limits
    with pytest.raises(ValueError, match="longer than 4000"):
        await fake.submit_modal(opened, {"text": "x" * 4001})  # the client refuses it
    tail = " prompt\u200b with <@&99> and `code`."
    hostile = {
        "title": "**Bold** @everyone <@1234>",
        "text": ("A" + " long" * 800)[: 4000 - len(tail)] + tail,  # exactly at the limit
    }
    assert len(hostile["text"]) == 4000
    answer = await private_text(await fake.submit_modal(opened, hostile))
    assert answer.startswith("Added"), answer
    with bot_db.session() as session:
        [row] = session.query(Prompt).filter(Prompt.guild_id.is_not(None)).all()
        assert (row.title, row.text) == (hostile["title"], " ".join(hostile["text"].split()))
    listed = await private_text(await prompts(fake, MEMBER, "list"))
    assert "\\*\\*Bold\\*\\*" in listed and "@\u200beveryone" in listed  # shown, never pinging

    binary = fake.upload("evil.jsonl", b"\x00\x01\x02" * 100)
    refused = await prompts(fake, CURATOR, "import", file=binary)
    assert "binary" in await private_text(refused)
    big = fake.upload("big.jsonl", b"")
    big["size"] = 50 * 1024 * 1024  # what Discord reports: refused before downloading
    refused = await prompts(fake, CURATOR, "import", file=big)
    assert "at most" in await private_text(refused)
    assert not fake.find_requests("GET", "/attachments/")
