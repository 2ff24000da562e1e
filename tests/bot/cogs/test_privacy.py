"""`/privacy show|forget` end to end through the real client: counts per server, a confirm
button that must be pressed (Cancel deletes nothing), and afterwards no vote and no request
tied to the user, while other people's votes and a running experiment's counts stay exact."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.client import PromptBot
from storage.database import Database
from storage.models import ModelStatus, Request, Vote
from storage.repositories.experiments import arm_vote_counts, start_experiment
from storage.repositories.model_versions import register_version
from tests.fakediscord import FakeDiscord
from tests.helpers.bot import T0, USER, VOTER, ask, eventually, results_of, vote_of, wait_notice

# every test starts the bot on the embedded shipped corpus, on SQLite and on PostgreSQL
pytestmark = [pytest.mark.slow, pytest.mark.both_engines]


def votes_by(db: Database, user: int) -> int:
    with db.session() as session:
        stmt = select(func.count()).select_from(Vote).where(Vote.voter_id == str(user))
        return session.scalar(stmt) or 0


def requests_by(db: Database, user: int) -> int:
    with db.session() as session:
        stmt = select(func.count()).select_from(Request).where(Request.user_id == str(user))
        return session.scalar(stmt) or 0


async def privacy(fake: FakeDiscord, sub: str, user: int = USER, channel: int | None = None):  # type: ignore[no-untyped-def]
    return await fake.invoke_command(user, channel_id=channel, name="privacy", subcommand=sub)


async def test_show_then_forget_with_the_confirm_button(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database, v1_model_dir: Path
) -> None:
    with bot_db.session() as session:
        register_version(session, "v1", str(v1_model_dir), ModelStatus.CANDIDATE, T0)
        experiment = start_experiment(session, "base", "v1", share=1.0, now=T0).id
    [mine] = await results_of(fake, await ask(fake, "fantasy dragons"))
    [theirs] = await results_of(fake, await ask(fake, "haunted lighthouse", user=VOTER))
    await fake.user_react(USER, mine.channel_id, mine.id, "👍")
    await fake.user_react(VOTER, mine.channel_id, mine.id, "👎")
    await fake.user_react(USER, theirs.channel_id, theirs.id, "👍")
    await eventually(lambda: votes_by(bot_db, USER) == 2 and votes_by(bot_db, VOTER) == 1)

    shown = await wait_notice(await privacy(fake, "show"))
    assert "I keep 1 search(es) and 2 vote(s) of yours" in shown
    assert "• Prompt Club: 1 search(es), 2 vote(s)" in shown

    question = await privacy(fake, "forget")
    [prompt_message] = await question.wait_messages(1)
    assert prompt_message.ephemeral and "can't be undone" in prompt_message.content
    cancelled = await fake.press_button(prompt_message, "privacy:cancel", USER)
    await cancelled.wait_for(lambda r: r.original and "Cancelled" in r.original.content)
    assert votes_by(bot_db, USER) == 2 and requests_by(bot_db, USER) == 1

    question = await privacy(fake, "forget")
    [prompt_message] = await question.wait_messages(1)
    confirmed = await fake.press_button(prompt_message, "privacy:forget", USER)
    await confirmed.wait_for(lambda r: r.original and "Done" in r.original.content)
    assert "deleted 2 vote(s) and unlinked 1 search(es)" in prompt_message.content
    assert prompt_message.components == []  # the buttons are gone
    assert votes_by(bot_db, USER) == 0 and requests_by(bot_db, USER) == 0
    assert vote_of(bot_db, mine, VOTER) == (-1, False)  # someone else's vote stays
    with bot_db.session() as session:
        counts = {(c.arm, c.value): c.count for c in arm_vote_counts(session, experiment)}
    assert counts == {("candidate", -1): 1}  # exactly the votes still held
    again = await wait_notice(await privacy(fake, "show"))
    assert "I keep nothing about you" in again


async def test_privacy_works_in_direct_messages(
    fake: FakeDiscord, bot: PromptBot, bot_db: Database
) -> None:
    dm = fake.dm_channel(USER)
    shown = await wait_notice(await privacy(fake, "show", channel=dm.id))
    assert "I keep nothing about you" in shown
