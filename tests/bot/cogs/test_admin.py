"""`/model ...`: refused for non-admins (even when a server owner shows it to them), private
replies for admins, audit-logged changes that the next `/prompt` serves without a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.client import PromptBot
from storage.database import Database
from storage.models import ModelStatus
from storage.repositories.audit import recent_audit
from storage.repositories.experiments import start_experiment
from storage.repositories.model_versions import get_champion, register_version, set_champion
from storage.settings import Settings
from tests.fakediscord import CommandNotPermitted, FakeDiscord, Perm, running_client
from tests.helpers.bot import (
    ADMIN_ROLE,
    T0,
    USER,
    ask,
    eventually,
    make_settings,
    new_bot,
    register_v1_champion,
    results_of,
    wait_notice,
)

pytestmark = pytest.mark.slow  # every test starts the bot on the embedded shipped corpus


def champion_id(db: Database) -> str:
    with db.session() as session:
        champion = get_champion(session)
        assert champion is not None
        return champion.id


async def footer_of_next_prompt(fake: FakeDiscord) -> str:
    [message] = await results_of(fake, await ask(fake, "fantasy dragons"))
    return message.embeds[0]["footer"]["text"]


def allow_everyone(fake: FakeDiscord) -> None:
    """What a server owner does in Integrations settings: `/model` for everybody."""
    for command in fake.commands():
        command.pop("default_member_permissions", None)


async def model(
    fake: FakeDiscord, user: int, subcommand: str, group: str | None = None, **options: str
) -> str:
    record = await fake.invoke_command(
        user, name="model", subcommand=subcommand, subcommand_group=group, options=options
    )
    return await wait_notice(record)


@pytest.fixture
def two_versions(bot_db: Database, v1_model_dir: Path) -> Database:
    register_v1_champion(bot_db, v1_model_dir)
    return bot_db


async def test_non_admin_rollback_is_refused_and_changes_nothing(
    fake: FakeDiscord, two_versions: Database, bot: PromptBot
) -> None:
    member = fake.add_member(name="reader")
    with pytest.raises(CommandNotPermitted):  # hidden by default_permissions(manage_guild)
        await fake.invoke_command(member.id, name="model", subcommand="rollback")

    allow_everyone(fake)
    text = await model(fake, member.id, "rollback")
    assert "Manage Server" in text
    assert champion_id(two_versions) == "v1"
    with two_versions.session() as session:
        assert [e.action for e in recent_audit(session)] == ["init_champion"]
    assert (await footer_of_next_prompt(fake)).startswith("model v1")


async def test_admin_rollback_is_served_by_the_next_prompt(
    fake: FakeDiscord, two_versions: Database, bot: PromptBot
) -> None:
    assert (await footer_of_next_prompt(fake)).startswith("model v1")
    manager = fake.add_member(name="manager", permissions=Perm.MANAGE_GUILD)

    text = await model(fake, manager.id, "rollback")
    assert "base is now the champion" in text and "Serving now: base" in text
    assert champion_id(two_versions) == "base"
    assert (await footer_of_next_prompt(fake)).startswith("model base")

    text = await model(fake, manager.id, "promote", version="v1")
    assert "v1 is now the champion" in text
    assert (await footer_of_next_prompt(fake)).startswith("model v1")
    with two_versions.session() as session:
        audit = [(e.actor, e.action, e.target) for e in reversed(recent_audit(session))]
    actor = f"discord:{manager.id}"
    assert audit[-2:] == [(actor, "rollback", "base"), (actor, "promote", "v1")]


async def test_admin_role_status_list_and_bad_version(
    fake: FakeDiscord, two_versions: Database, bot: PromptBot
) -> None:
    role = fake.add_role(name=ADMIN_ROLE)
    curator = fake.add_member(name="curator", roles=[role])
    allow_everyone(fake)  # the role grants nothing on Discord: only the bot's own check

    status = await model(fake, curator.id, "status")
    assert "champion: v1" in status and "serving: v1" in status
    listed = await model(fake, curator.id, "list")
    assert "`base`" in listed and "`v1` champion" in listed
    assert "No model version 'v9'" in await model(fake, curator.id, "promote", version="v9")
    assert "No experiment is running" in await model(fake, curator.id, "stop", "experiment")
    choices = await fake.invoke_autocomplete(
        curator.id, name="model", subcommand="promote", options={"version": "v"}, focused="version"
    )
    assert [c["value"] for c in choices] == ["v1"]
    assert champion_id(two_versions) == "v1"


async def test_status_shows_why_a_broken_champion_is_not_served(
    fake: FakeDiscord, bot_db: Database, settings: Settings, tmp_path: Path
) -> None:
    broken = tmp_path / "deleted-by-mistake"  # the files of a champion went missing
    with bot_db.session() as session:
        register_version(session, "v2", str(broken), ModelStatus.CANDIDATE, T0)
        set_champion(session, "v2", actor="test", action="promote", now=T0)

    async with running_client(new_bot(settings, bot_db), fake):
        await fake.wait_for_commands("model")
        manager = fake.add_member(name="manager", permissions=Perm.MANAGE_GUILD)
        status = await model(fake, manager.id, "status")
        assert "champion: v2" in status and "v2 failed to load" in status
        assert (await footer_of_next_prompt(fake)).startswith("model base")


async def test_a_champion_changed_elsewhere_is_served_without_restart(
    fake: FakeDiscord, bot_db: Database, v1_model_dir: Path, tmp_path: Path, model_cache_dir: Path
) -> None:
    settings = make_settings(bot_db, tmp_path, model_cache_dir, champion_poll_seconds=0.05)
    async with running_client(new_bot(settings, bot_db), fake) as client:
        await fake.wait_for_commands("prompt")
        assert (await footer_of_next_prompt(fake)).startswith("model base")
        register_v1_champion(bot_db, v1_model_dir)  # e.g. `promptbot models promote v1`
        await eventually(lambda: client.pool.state.serving_id == "v1")
        assert (await footer_of_next_prompt(fake)).startswith("model v1")


async def test_experiment_numbers_so_far_and_stopping_it(
    fake: FakeDiscord, bot_db: Database, v1_model_dir: Path, bot: PromptBot
) -> None:
    with bot_db.session() as session:
        register_version(session, "v1", str(v1_model_dir), ModelStatus.CANDIDATE, T0)
        start_experiment(session, "base", "v1", share=1.0, now=T0)  # everyone gets v1
    [message] = await results_of(fake, await ask(fake, "fantasy dragons"))
    assert message.embeds[0]["footer"]["text"].startswith("model v1")
    await fake.user_react(USER, message.channel_id, message.id, "👍")
    manager = fake.add_member(name="manager", permissions=Perm.MANAGE_GUILD)

    status = await eventually_async(
        lambda: model(fake, manager.id, "status"), lambda text: "candidate 👍1 👎0" in text
    )
    assert "experiment 1 (running, A/B): base vs v1" in status
    stopped = await model(fake, manager.id, "stop", "experiment")
    assert "Stopped experiment 1; base stays champion" in stopped
    with bot_db.session() as session:
        [entry] = [e for e in recent_audit(session) if e.action == "experiment_stop"]
    assert (entry.actor, entry.target) == (f"discord:{manager.id}", "v1")
    assert (await footer_of_next_prompt(fake)).startswith("model base")


async def eventually_async(produce: Any, accept: Any, attempts: int = 20) -> Any:
    """Repeat an async probe until its value is accepted (votes land asynchronously)."""
    for _ in range(attempts):
        value = await produce()
        if accept(value):
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"never accepted: {value!r}")
