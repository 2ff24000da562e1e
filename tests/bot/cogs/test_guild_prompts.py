"""`/prompts ...` end to end through the real discord.py client: add, import, submit and
approve, remove, list and export a server's own prompts, each seen by `/prompt` in its server
only, at once."""

from __future__ import annotations

import asyncio
import json

import pytest

from bot.client import PromptBot
from storage.database import Database
from storage.models import Prompt, PromptSubmission, Result, Vote
from storage.repositories.guild_prompts import guild_prompt_key
from tests.fakediscord import FakeDiscord, InteractionRecord, Message
from tests.helpers.bot import USER, eventually, results_of, vote_of, wait_notice
from tests.helpers.guild_prompts import (
    A_PROMPT,
    CURATOR,
    MEMBER,
    SECOND_CURATOR,
    add_prompt,
    fill_modal,
    jsonl,
    make_curator,
    modal_limits,
    private_text,
    prompts,
)

# every test starts the bot on the embedded shipped corpus, on SQLite and on PostgreSQL
pytestmark = [pytest.mark.slow, pytest.mark.both_engines]


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
    limits = modal_limits(opened)
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


# --------------------------------------------------------------------------- bad input


async def queued_submission(fake: FakeDiscord) -> Message:
    """MEMBER submits A_PROMPT; the queue message with its three buttons."""
    queue = fake.add_channel(name="prompt-queue")
    await private_text(await prompts(fake, CURATOR, "settings", queue=queue.id))
    submitted = await fill_modal(fake, await prompts(fake, MEMBER, "submit"), A_PROMPT)
    assert "moderator will review" in await private_text(submitted)
    [queued] = await fake.wait_for(lambda: fake.bot_messages(queue.id) or None)
    return queued


def button(message: Message, action: str) -> str:
    [custom_id] = [
        c["custom_id"]
        for c in message.components[0]["components"]
        if c["custom_id"].startswith(f"pb:sub:{action}:")
    ]
    return custom_id


async def test_two_moderators_approving_at_once_add_one_prompt_and_the_second_is_told(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database
) -> None:
    make_curator(fake)
    make_curator(fake, SECOND_CURATOR)
    queued = await queued_submission(fake)
    approve = button(queued, "approve")
    clicks: list[InteractionRecord] = list(
        await asyncio.gather(
            fake.click_button(CURATOR, queued, approve),
            fake.click_button(SECOND_CURATOR, queued, approve),
        )
    )
    await fake.wait_for(lambda: "approved" in queued.embeds[0]["footer"]["text"] or None)
    [answer] = await fake.wait_for(
        lambda: [m for r in clicks for m in r.messages if m.ephemeral] or None
    )
    assert "already approved" in answer.content or "decided it a moment ago" in answer.content
    with pytest.raises(ValueError, match="disabled"):  # the client offers no third click
        await fake.click_button(CURATOR, queued, approve)
    with bot_db.session() as session:
        [row] = session.query(Prompt).filter(Prompt.guild_id.is_not(None)).all()
        [decided] = session.query(PromptSubmission).all()
        assert decided.status == "approved" and decided.prompt_id == row.id
    dm = fake.dm_channel(MEMBER)
    [told] = await fake.wait_for(lambda: fake.channel_messages(dm.id) or None)
    await asyncio.sleep(0.5)  # a second DM would have been sent by now
    assert len(fake.channel_messages(dm.id)) == 1 and "approved" in told.content


async def test_two_moderators_editing_one_submission_the_first_save_wins(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database
) -> None:
    make_curator(fake)
    make_curator(fake, SECOND_CURATOR)
    queued = await queued_submission(fake)
    first = await fake.click_button(CURATOR, queued, button(queued, "edit"))
    second = await fake.click_button(SECOND_CURATOR, queued, button(queued, "edit"))
    assert first.callback_type == 9 and second.callback_type == 9  # both forms open
    mine = A_PROMPT["text"] + " She sings the hymn backwards."
    await fake.submit_modal(first, {"text": mine})
    await fake.wait_for(lambda: "backwards" in queued.embeds[0]["description"] or None)
    lost = await fake.submit_modal(second, {"text": A_PROMPT["text"] + " Nobody listens."})
    assert "edited it meanwhile" in await private_text(lost)
    assert "Nobody listens" not in queued.embeds[0]["description"]
    await fake.click_button(CURATOR, queued, button(queued, "approve"))
    await fake.wait_for(lambda: "approved" in queued.embeds[0]["footer"]["text"] or None)
    with bot_db.session() as session:
        [row] = session.query(Prompt).filter(Prompt.guild_id.is_not(None)).all()
        assert row.text == mine


async def test_two_curators_writing_the_same_prompt_id_the_last_write_wins(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database
) -> None:
    make_curator(fake)
    make_curator(fake, SECOND_CURATOR)
    first = {"id": "p1", **A_PROMPT}
    second = dict(
        first,
        title="The Quarry Bell",
        text="A bell rings at the bottom of a flooded quarry every winter solstice, and the "
        "divers who went to find it came back speaking only in rhymes.",
    )
    upload = fake.upload("first.jsonl", jsonl(first))
    assert "1 added" in await private_text(await prompts(fake, CURATOR, "import", file=upload))
    upload = fake.upload("second.jsonl", jsonl(second))
    answer = await private_text(await prompts(fake, SECOND_CURATOR, "import", file=upload))
    assert "1 updated" in answer, answer  # the second curator is told it replaced one
    assert await top_title(fake, "flooded quarry bell divers rhymes") == "The Quarry Bell"
    assert await top_title(fake, "lighthouse choir keeper hymn") != A_PROMPT["title"]
    with bot_db.session() as session:
        [row] = session.query(Prompt).filter(Prompt.guild_id.is_not(None)).all()
        assert (row.local_id, row.title) == ("p1", "The Quarry Bell")


async def test_a_10000_line_file_is_refused_whole_and_nothing_is_written(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database
) -> None:
    make_curator(fake)
    lines = [{"id": f"n{i}", "text": f"prompt number {i} about a tower"} for i in range(10_000)]
    small = fake.upload("many.jsonl", jsonl(*lines))
    assert small["size"] < 2 * 1024 * 1024  # under the byte cap: refused for its lines
    refused = await prompts(fake, CURATOR, "import", file=small)
    [message] = await refused.wait_messages(1)
    assert message.ephemeral and not message.components  # no button to import a part
    assert "10,000 lines" in message.content and "at most 5,000" in message.content
    padded = [dict(line, title="t" * 200) for line in lines]
    large = fake.upload("many-large.jsonl", jsonl(*padded))
    assert large["size"] > 2 * 1024 * 1024
    refused = await prompts(fake, CURATOR, "import", file=large)
    assert "at most 2,097,152" in await private_text(refused)
    with bot_db.session() as session:
        assert session.query(Prompt).filter(Prompt.guild_id.is_not(None)).count() == 0


async def test_modal_fields_at_and_past_their_limits(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database
) -> None:
    make_curator(fake)
    opened = await prompts(fake, CURATOR, "add")
    limits = modal_limits(opened)
    assert limits == {"title": 200, "text": 4000, "genres": 400, "themes": 400, "rating": 16}
    for field, limit in limits.items():  # one past the limit: the client cannot send it
        with pytest.raises(ValueError, match=f"longer than {limit}"):
            await fake.submit_modal(opened, {**A_PROMPT, field: "x" * (limit + 1)})
    eleven = ", ".join(f"tag{i}" for i in range(11))
    answer = await private_text(await fake.submit_modal(opened, {**A_PROMPT, "genres": eleven}))
    assert answer.startswith("Not added") and "at most 10" in answer, answer
    long_tag = {**A_PROMPT, "themes": "y" * 65}  # within the field, past the tag limit
    opened = await prompts(fake, CURATOR, "add")
    answer = await private_text(await fake.submit_modal(opened, long_tag))
    assert answer.startswith("Not added") and "at most 64" in answer, answer
    opened = await prompts(fake, CURATOR, "add")
    answer = await private_text(await fake.submit_modal(opened, {**A_PROMPT, "rating": "x" * 16}))
    assert answer.startswith("Not added") and "rating" in answer, answer
    at_limit = {**A_PROMPT, "title": "T" * 200, "genres": ", ".join(["fantasy"] * 10)}
    opened = await prompts(fake, CURATOR, "add")
    answer = await private_text(await fake.submit_modal(opened, at_limit))
    assert answer.startswith("Added"), answer
    with bot_db.session() as session:
        [row] = session.query(Prompt).filter(Prompt.guild_id.is_not(None)).all()
        assert row.title == "T" * 200


async def test_removing_a_prompt_with_votes_keeps_them_and_it_is_never_served_again(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database
) -> None:
    make_curator(fake)
    await add_prompt(fake)
    keywords = "lighthouse choir keeper hymn"
    record = await fake.invoke_command(USER, name="prompt", options={"keywords": keywords})
    [message] = await results_of(fake, record)
    assert message.embeds[0]["title"] == A_PROMPT["title"]
    await fake.user_react(USER, message.channel_id, message.id, "👍")
    await eventually(lambda: vote_of(bot_db, message, USER) == (1, False))
    removed = await private_text(await prompts(fake, CURATOR, "remove", prompt_id="1"))
    assert removed.startswith("Removed") and "votes are kept" in removed
    [home] = fake.guilds.values()
    key = guild_prompt_key(str(home.id), "1")
    with bot_db.session() as session:
        [vote] = session.query(Vote).all()
        assert session.get(Result, vote.result_id).prompt_id == key  # type: ignore[union-attr]
        assert session.get(Prompt, key).removed_at is not None  # type: ignore[union-attr]
    for count in (1, 5):
        again = await fake.invoke_command(
            USER, name="prompt", options={"keywords": keywords, "count": count}
        )
        titles = [m.embeds[0]["title"] for m in await results_of(fake, again, count)]
        assert A_PROMPT["title"] not in titles
    assert "Lighthouse" not in await private_text(await prompts(fake, MEMBER, "list"))
    await fake.user_react(USER, message.channel_id, message.id, "👍", add=False)
    await eventually(lambda: vote_of(bot_db, message, USER) == (1, True))  # still recorded
