"""`/model ...`: only operators change the shared model (refused privately for everyone else,
server admins of any server included, even when a server owner shows it to them); server
admins get a read-only status; every attempt is audited; changes are served by the next
`/prompt` without a restart; with a control guild the operator commands live there only."""

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

# every test starts the bot on the embedded shipped corpus, on SQLite and on PostgreSQL
pytestmark = [pytest.mark.slow, pytest.mark.both_engines]


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
    assert "Only the bot's operators" in text
    assert champion_id(two_versions) == "v1"
    assert (await footer_of_next_prompt(fake)).startswith("model v1")


async def test_a_server_admin_may_look_but_not_change_the_shared_model(
    fake: FakeDiscord, two_versions: Database, bot: PromptBot
) -> None:
    """Manage Server in one server is not a say over what every server is served."""
    other = fake.add_guild("Other Club", owner_id=fake.add_user("other-owner").id)
    manager = fake.add_member(other.id, name="manager", permissions=Perm.MANAGE_GUILD)
    await fake.wait_for_commands("model")
    for sub, group in (("rollback", None), ("promote", None), ("stop", "experiment")):
        options = {"version": "base"} if sub == "promote" else {}
        record = await fake.invoke_command(
            manager.id,
            guild_id=other.id,
            name="model",
            subcommand=sub,
            subcommand_group=group,
            options=options,
        )
        text = await wait_notice(record)  # private, and says who may
        assert "Only the bot's operators" in text and "/model status" in text
    assert champion_id(two_versions) == "v1"
    record = await fake.invoke_command(
        manager.id, guild_id=other.id, name="model", subcommand="status"
    )
    status = await wait_notice(record)
    assert "champion: v1" in status and "serving: v1" in status
    assert "last training run" not in status  # operators' detail stays with operators
    with two_versions.session() as session:
        attempts = [e for e in recent_audit(session) if e.action.startswith("command")]
    assert [(e.action, e.target) for e in reversed(attempts)] == [
        ("command.refused", "/model rollback"),
        ("command.refused", "/model promote"),
        ("command.refused", "/model experiment stop"),
        ("command", "/model status"),
    ]
    for entry in attempts:
        assert entry.actor == f"discord:{manager.id}"
        assert entry.details["guild_id"] == str(other.id)
        assert entry.details["channel_id"] == str(other.channel.id)
        assert entry.details["user_id"] == str(manager.id)


async def test_operators_change_the_model_and_admins_who_are_operators_too(
    fake: FakeDiscord, two_versions: Database, bot: PromptBot
) -> None:
    """The application's owner (here also the server's owner, so an admin too) is an
    operator; rollback and promote go through and are served by the next /prompt."""
    assert (await footer_of_next_prompt(fake)).startswith("model v1")
    owner = fake.state.owner.id
    text = await model(fake, owner, "rollback")
    assert "base is now the champion" in text and "Serving now: base" in text
    assert champion_id(two_versions) == "base"
    assert (await footer_of_next_prompt(fake)).startswith("model base")

    text = await model(fake, owner, "promote", version="v1")
    assert "v1 is now the champion" in text
    assert (await footer_of_next_prompt(fake)).startswith("model v1")
    status = await model(fake, owner, "status")
    assert "last training run" in status  # the operator's full status
    with two_versions.session() as session:
        audit = [(e.actor, e.action, e.target) for e in reversed(recent_audit(session))]
    actor = f"discord:{owner}"
    assert audit[-5:] == [
        (actor, "command", "/model rollback"),
        (actor, "rollback", "base"),
        (actor, "command", "/model promote"),
        (actor, "promote", "v1"),
        (actor, "command", "/model status"),
    ]


async def test_server_commands_from_a_direct_message_are_refused_even_for_operators(
    fake: FakeDiscord, two_versions: Database, bot: PromptBot
) -> None:
    """Discord hides server-only commands in DMs, but a client can still send one: the
    application's owner rolling back from a DM is refused (the model stays), privately, and
    the attempt is audited with no guild."""
    owner = fake.state.owner.id
    dm = fake.dm_channel(owner)
    for sub in ("rollback", "status"):
        record = await fake.invoke_command(owner, channel_id=dm.id, name="model", subcommand=sub)
        assert "only works inside a server" in await wait_notice(record)
    assert champion_id(two_versions) == "v1"
    with two_versions.session() as session:
        refused = [e for e in recent_audit(session) if e.action == "command.refused"]
    assert [e.target for e in reversed(refused)] == ["/model rollback", "/model status"]
    for entry in refused:
        assert entry.details["guild_id"] is None and entry.details["reason"] == "direct message"
        assert entry.details["channel_id"] == str(dm.id)


async def test_operator_commands_live_only_in_the_control_guild(
    no_leaks: None,
    two_versions: Database,
    tmp_path: Path,
    model_cache_dir: Path,
) -> None:
    """With PROMPTBOT_CONTROL_GUILD_ID, other servers get /model status alone; an operator
    named in PROMPTBOT_OPERATOR_IDS (among garbage entries, which are ignored) and a team
    member of the application both work from the control guild."""
    async with FakeDiscord() as fake:
        control = fake.add_guild("Control", owner_id=fake.add_user("host").id)
        public = fake.add_guild("Public", owner_id=fake.add_user("public-owner").id)
        operator = fake.add_user("operator")
        developer = fake.add_user("developer")
        fake.set_application_team([(developer.id, "developer")])
        settings = make_settings(
            two_versions,
            tmp_path,
            model_cache_dir,
            control_guild_id=control.id,
            operator_ids=f"not-an-id, {operator.id};-5 12345678901234567890123",
        )
        async with running_client(new_bot(settings, two_versions), fake) as client:
            assert client.operators.ids == {operator.id}
            assert client.operators.ignored == ("not-an-id", "-5", "12345678901234567890123")
            await fake.wait_for_commands("prompt", "model")
            await fake.wait_for(lambda: fake.commands(control.id), what="control commands")
            [public_model] = [c for c in fake.commands() if c["name"] == "model"]
            assert [o["name"] for o in public_model["options"]] == ["status"]
            admin = fake.add_member(public.id, name="admin", permissions=Perm.MANAGE_GUILD)
            with pytest.raises(ValueError, match="no option 'rollback'"):
                await fake.invoke_command(
                    admin.id, guild_id=public.id, name="model", subcommand="rollback"
                )
            fake.add_member(control.id, user_id=operator.id, permissions=Perm.MANAGE_GUILD)
            record = await fake.invoke_command(
                operator.id, guild_id=control.id, name="model", subcommand="rollback"
            )
            assert "base is now the champion" in await wait_notice(record)
            fake.add_member(control.id, user_id=developer.id, permissions=Perm.MANAGE_GUILD)
            record = await fake.invoke_command(
                developer.id,
                guild_id=control.id,
                name="model",
                subcommand="promote",
                options={"version": "v1"},
            )
            assert "v1 is now the champion" in await wait_notice(record)
            assert champion_id(two_versions) == "v1"
        assert fake.errors == [] and fake.unhandled == []


async def test_operator_list_bad_version_and_autocomplete(
    fake: FakeDiscord, two_versions: Database, bot: PromptBot
) -> None:
    role = fake.add_role(name=ADMIN_ROLE)
    curator = fake.add_member(name="curator", roles=[role])
    allow_everyone(fake)  # the role grants nothing on Discord: only the bot's own check
    assert "champion: v1" in await model(fake, curator.id, "status")  # admin role: may look
    assert "Only the bot's operators" in await model(fake, curator.id, "list")
    no_choices = await fake.invoke_autocomplete(
        curator.id, name="model", subcommand="promote", options={"version": "v"}, focused="version"
    )
    assert no_choices == []  # version ids are operators' business

    owner = fake.state.owner.id
    listed = await model(fake, owner, "list")
    assert "`base`" in listed and "`v1` champion" in listed
    assert "No model version 'v9'" in await model(fake, owner, "promote", version="v9")
    assert "No experiment is running" in await model(fake, owner, "stop", "experiment")
    choices = await fake.invoke_autocomplete(
        owner, name="model", subcommand="promote", options={"version": "v"}, focused="version"
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
        status = await model(fake, fake.state.owner.id, "status")  # an operator sees why
        assert "champion: v2" in status and "v2 failed to load" in status
        manager = fake.add_member(name="manager", permissions=Perm.MANAGE_GUILD)
        public = await model(fake, manager.id, "status")
        assert "serving: base (fallback: the champion failed to load)" in public
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
    operator = fake.state.owner.id

    status = await eventually_async(
        lambda: model(fake, operator, "status"), lambda text: "candidate 👍1 👎0" in text
    )
    assert "experiment 1 (running, A/B): base vs v1" in status
    stopped = await model(fake, operator, "stop", "experiment")
    assert "Stopped experiment 1; base stays champion" in stopped
    with bot_db.session() as session:
        [entry] = [e for e in recent_audit(session) if e.action == "experiment_stop"]
    assert (entry.actor, entry.target) == (f"discord:{operator}", "v1")
    assert (await footer_of_next_prompt(fake)).startswith("model base")


async def eventually_async(produce: Any, accept: Any, attempts: int = 20) -> Any:
    """Repeat an async probe until its value is accepted (votes land asynchronously)."""
    for _ in range(attempts):
        value = await produce()
        if accept(value):
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"never accepted: {value!r}")
