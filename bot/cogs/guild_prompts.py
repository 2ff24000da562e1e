"""`/prompts ...`: a server's own prompts — add, import, remove, list, export, submit — and the
moderation queue's Approve / Edit / Reject buttons.

Curators (Manage Server, the server's curator role, or ``PROMPTBOT_CURATOR_ROLE``) add,
import, remove and export; every member may list and submit. Everything slow (embedding for
the near-duplicate check, SQL) runs in a thread after a private deferral, and every reply is
private. The queue buttons are ``DynamicItem``s whose ``custom_id`` carries the submission id,
registered when the cog loads (inside ``setup_hook``), so buttons posted before a restart
still work; the database, not the button, decides whether a submission is still open, so a
second approval changes nothing and says who decided first.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.checks import Access, requires
from bot.cogs import tell
from bot.formatting import (
    NO_PINGS,
    NO_QUEUE,
    NOT_CURATOR,
    QUEUE_UNREACHABLE,
    import_report_text,
    outcome_for_submitter,
    prompt_line,
    prompts_page_text,
    submission_embed,
    written_text,
)
from serving.guild_prompts import (
    LIST_PAGE,
    MAX_IMPORT_BYTES,
    GuildPromptError,
    GuildPrompts,
    ImportPreview,
)
from storage.models import PromptSubmission
from storage.prompt_file import MAX_TEXT_CHARS, MAX_TITLE_CHARS, PromptRecord
from storage.repositories.guild_prompts import CurationSettings

if TYPE_CHECKING:
    from bot.client import PromptBot

log = logging.getLogger(__name__)
TAGS_CHARS = 400  # 10 tags of at most 64 characters, comma-separated, fit well within
CONFIRM_TIMEOUT_S = 600.0
BUTTON_STYLES = {
    "approve": discord.ButtonStyle.success,
    "edit": discord.ButtonStyle.secondary,
    "reject": discord.ButtonStyle.danger,
}


class NotCurator(app_commands.CheckFailure):
    """The user may not change this server's prompts."""


def is_curator(
    interaction: discord.Interaction, service: GuildPrompts, role_name: str | None
) -> bool:
    """Manage Server, the server's curator role (by id) or the configured role (by name)."""
    if interaction.guild_id is None:
        return False
    if interaction.permissions.manage_guild:
        return True
    roles = getattr(interaction.user, "roles", ())
    curator_role = service.curation(str(interaction.guild_id)).curator_role_id
    return any(
        (curator_role and str(role.id) == curator_role) or (role_name and role.name == role_name)
        for role in roles
    )


def _service(interaction: discord.Interaction) -> GuildPrompts:
    return interaction.client.guild_prompts  # type: ignore[attr-defined,no-any-return]


def curator_only() -> Any:
    async def predicate(interaction: discord.Interaction) -> bool:
        settings = interaction.client.settings  # type: ignore[attr-defined]
        allowed = await asyncio.to_thread(
            is_curator, interaction, _service(interaction), settings.curator_role
        )
        if allowed:
            return True
        raise NotCurator("not a curator")

    return app_commands.check(predicate)


# --------------------------------------------------------------------------- modals


class PromptModal(discord.ui.Modal):
    """Title, text, genres, themes and rating: the prompt file's fields, at its limits."""

    def __init__(self, heading: str, initial: PromptSubmission | None = None) -> None:
        super().__init__(title=heading, timeout=900)
        self.prompt_title: discord.ui.TextInput[PromptModal] = discord.ui.TextInput(
            label="Title",
            custom_id="title",
            required=False,
            max_length=MAX_TITLE_CHARS,
            default=initial.title if initial else None,
        )
        self.text: discord.ui.TextInput[PromptModal] = discord.ui.TextInput(
            label="Prompt",
            custom_id="text",
            style=discord.TextStyle.paragraph,
            max_length=MAX_TEXT_CHARS,
            default=initial.text if initial else None,
        )
        self.genres: discord.ui.TextInput[PromptModal] = discord.ui.TextInput(
            label="Genres (comma-separated)",
            custom_id="genres",
            required=False,
            max_length=TAGS_CHARS,
            default=", ".join(initial.genres) if initial else None,
        )
        self.themes: discord.ui.TextInput[PromptModal] = discord.ui.TextInput(
            label="Themes (comma-separated)",
            custom_id="themes",
            required=False,
            max_length=TAGS_CHARS,
            default=", ".join(initial.themes) if initial else None,
        )
        self.rating: discord.ui.TextInput[PromptModal] = discord.ui.TextInput(
            label="Rating: general, teen or mature",
            custom_id="rating",
            required=False,
            max_length=16,
            default=(initial.rating if initial else None) or "general",
        )
        for item in (self.prompt_title, self.text, self.genres, self.themes, self.rating):
            self.add_item(item)

    def record(self, service: GuildPrompts, local_id: str) -> tuple[PromptRecord, str]:
        """The typed prompt, validated; GuildPromptError with the reason otherwise."""
        record = service.record_from_fields(
            local_id,
            self.prompt_title.value,
            self.text.value,
            self.genres.value,
            self.themes.value,
            self.rating.value,
        )
        return record, record.rating.value

    # discord.py types Modal.on_error without the item its base class passes to views
    async def on_error(self, interaction: discord.Interaction, error: Exception, /) -> None:  # type: ignore[override]
        log.error("prompt form failed", exc_info=error)
        with contextlib.suppress(discord.HTTPException):
            await tell(interaction, "Something went wrong on my side; nothing was saved.")


class AddPromptModal(PromptModal):
    def __init__(self) -> None:
        super().__init__("Add a prompt to this server")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        service, guild_id = _service(interaction), str(interaction.guild_id)
        try:
            local_id = await asyncio.to_thread(service.new_local_id, guild_id)
            record, _rating = self.record(service, local_id)
            written = await asyncio.to_thread(
                service.add, guild_id, str(interaction.user.id), record
            )
        except GuildPromptError as exc:
            await tell(interaction, f"Not added: {exc}")
            return
        await tell(
            interaction,
            f"Added as `{local_id}`. "
            + written_text(written.added, written.updated, written.unchanged),
        )


class SubmitPromptModal(PromptModal):
    def __init__(self) -> None:
        super().__init__("Suggest a prompt for this server")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        service, guild_id = _service(interaction), str(interaction.guild_id)
        queue_id = (await asyncio.to_thread(service.curation, guild_id)).queue_channel_id
        if queue_id is None:
            await tell(interaction, NO_QUEUE)
            return
        try:
            record, rating = self.record(service, "submission")
            submission = await asyncio.to_thread(
                service.submit, guild_id, str(interaction.user.id), record, rating
            )
        except GuildPromptError as exc:
            await tell(interaction, f"Not submitted: {exc}")
            return
        posted = await post_to_queue(interaction.client, queue_id, submission)
        if posted is None:
            await tell(interaction, QUEUE_UNREACHABLE)
            return
        await asyncio.to_thread(service.set_queue_message, submission.id, queue_id, str(posted.id))
        await tell(interaction, "Thanks! A moderator will review it; I'll tell you the outcome.")


class EditSubmissionModal(PromptModal):
    def __init__(self, submission: PromptSubmission) -> None:
        super().__init__("Edit the submission", initial=submission)
        self.submission = submission

    async def on_submit(self, interaction: discord.Interaction) -> None:
        service = _service(interaction)
        try:
            record, _rating = self.record(service, "submission")
        except GuildPromptError as exc:
            await tell(interaction, f"Not changed: {exc}")
            return
        decision = await asyncio.to_thread(
            service.edit,
            self.submission.id,
            str(interaction.guild_id),
            self.submission.revision,
            record,
        )
        if not decision.done or decision.submission is None:
            await tell(interaction, decision.message)
            return
        await interaction.response.edit_message(
            embed=submission_embed(decision.submission), view=queue_view(decision.submission)
        )


# --------------------------------------------------------------------------- queue buttons


class SubmissionButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"pb:sub:(?P<action>approve|edit|reject):(?P<id>[0-9]{1,18})",
):
    """One of a queued submission's buttons; its state lives in the custom_id, so a button
    posted before a restart is understood after it."""

    def __init__(self, action: str, submission_id: int, disabled: bool = False) -> None:
        super().__init__(
            discord.ui.Button(
                label=action.capitalize(),
                style=BUTTON_STYLES[action],
                custom_id=f"pb:sub:{action}:{submission_id}",
                disabled=disabled,
            )
        )
        self.action, self.submission_id = action, submission_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
    ) -> SubmissionButton:
        return cls(match["action"], int(match["id"]))

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        settings = interaction.client.settings  # type: ignore[attr-defined]
        allowed = await asyncio.to_thread(
            is_curator, interaction, _service(interaction), settings.curator_role
        )
        if not allowed:
            await tell(interaction, NOT_CURATOR)
        return allowed

    async def callback(self, interaction: discord.Interaction) -> None:
        service, guild_id = _service(interaction), str(interaction.guild_id)
        moderator = str(interaction.user.id)
        if self.action == "edit":
            submission = await asyncio.to_thread(service.submission, self.submission_id)
            if submission is None or submission.guild_id != guild_id:
                await tell(interaction, "That submission does not exist here.")
                return
            if submission.status != "open":
                await tell(interaction, f"That submission was already {submission.status}.")
                return
            await interaction.response.send_modal(EditSubmissionModal(submission))
            return
        await interaction.response.defer()  # updates the queue message afterwards
        try:
            if self.action == "approve":
                decision = await asyncio.to_thread(
                    service.approve, self.submission_id, guild_id, moderator
                )
            else:
                decision = await asyncio.to_thread(
                    service.reject, self.submission_id, guild_id, moderator
                )
        except GuildPromptError as exc:
            await interaction.followup.send(str(exc), ephemeral=True, allowed_mentions=NO_PINGS)
            return
        if not decision.done or decision.submission is None:
            await interaction.followup.send(
                decision.message, ephemeral=True, allowed_mentions=NO_PINGS
            )
            return
        submission = decision.submission
        verdict = "approved" if self.action == "approve" else "rejected"
        state = f"{verdict} by moderator {moderator}"
        if decision.prompt_local_id:
            state += f" · prompt `{decision.prompt_local_id}`"
        await interaction.edit_original_response(
            embed=submission_embed(submission, state), view=queue_view(submission, closed=True)
        )
        guild_name = interaction.guild.name if interaction.guild else "the server"
        await tell_submitter(
            interaction.client,
            submission,
            outcome_for_submitter(guild_name, submission.title, self.action == "approve"),
        )


def queue_view(submission: PromptSubmission, closed: bool = False) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in ("approve", "edit", "reject"):
        view.add_item(SubmissionButton(action, submission.id, disabled=closed))
    return view


async def post_to_queue(
    client: discord.Client, channel_id: str, submission: PromptSubmission
) -> discord.Message | None:
    channel = client.get_channel(int(channel_id))
    if not isinstance(channel, discord.abc.Messageable):
        return None
    try:
        return await channel.send(
            embed=submission_embed(submission),
            view=queue_view(submission),
            allowed_mentions=NO_PINGS,
        )
    except discord.HTTPException as exc:
        log.warning("cannot post to the moderation channel %s: %s", channel_id, exc)
        return None


async def tell_submitter(client: discord.Client, submission: PromptSubmission, text: str) -> None:
    """A private message to the submitter; members who closed DMs simply are not told."""
    try:
        user = client.get_user(int(submission.submitter_id)) or await client.fetch_user(
            int(submission.submitter_id)
        )
        await user.send(text, allowed_mentions=NO_PINGS)
    except discord.HTTPException as exc:
        log.info("could not tell submitter %s: %s", submission.submitter_id, exc)


# --------------------------------------------------------------------------- import confirm


class ConfirmImport(discord.ui.View):
    """The two buttons under an import's report, for the user who imported only."""

    def __init__(self, preview: ImportPreview, user_id: int, source: str) -> None:
        super().__init__(timeout=CONFIRM_TIMEOUT_S)
        self.preview, self.user_id, self.source = preview, user_id, source
        self.confirm.label = f"Import the {len(preview.records):,} good line(s)"

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return interaction.user.id == self.user_id

    @discord.ui.button(label="Import the good lines", style=discord.ButtonStyle.success)
    async def confirm(
        self, interaction: discord.Interaction, button: discord.ui.Button[Any]
    ) -> None:
        self.stop()
        await interaction.response.edit_message(content="Importing…", view=None)
        try:
            written = await asyncio.to_thread(
                _service(interaction).commit_import,
                self.preview,
                str(interaction.user.id),
                self.source,
            )
        except GuildPromptError as exc:
            await interaction.edit_original_response(content=f"Not imported: {exc}")
            return
        text = written_text(written.added, written.updated, written.unchanged)
        await interaction.edit_original_response(content=text)

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(
        self, interaction: discord.Interaction, button: discord.ui.Button[Any]
    ) -> None:
        self.stop()
        await interaction.response.edit_message(content="Cancelled: nothing imported.", view=None)


# --------------------------------------------------------------------------- the commands


@app_commands.guild_only()
class GuildPromptCommands(
    commands.GroupCog, group_name="prompts", group_description="This server's own prompts"
):
    def __init__(self, bot: PromptBot) -> None:
        self.bot = bot
        super().__init__()

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(SubmissionButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(SubmissionButton)

    async def cog_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        if isinstance(error, NotCurator):
            await tell(interaction, NOT_CURATOR)
            return
        raise error

    @app_commands.command(name="add", description="Add a prompt to this server (curators)")
    @curator_only()
    async def add(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(AddPromptModal())

    @app_commands.command(name="submit", description="Suggest a prompt for this server")
    async def submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(SubmitPromptModal())

    @app_commands.command(name="import", description="Import prompts from a JSONL file (curators)")
    @app_commands.describe(file="JSON Lines: one {id, title, text, genres, themes} per line")
    @curator_only()
    async def import_file(self, interaction: discord.Interaction, file: discord.Attachment) -> None:
        if file.size > MAX_IMPORT_BYTES:  # refuse before downloading anything
            await tell(
                interaction,
                f"That file is {file.size:,} bytes; imports take at most {MAX_IMPORT_BYTES:,}.",
            )
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            data = await file.read()
        except discord.HTTPException:
            await tell(interaction, "I could not download that file; please attach it again.")
            return
        service, guild_id = self.bot.guild_prompts, str(interaction.guild_id)
        try:
            preview = await asyncio.to_thread(
                service.preview_import, guild_id, data[: MAX_IMPORT_BYTES + 1]
            )
        except GuildPromptError as exc:
            await tell(interaction, f"Not imported: {exc}")
            return
        source = f"discord:{file.filename}"
        if preview.ok and preview.records:
            written = await asyncio.to_thread(
                service.commit_import, preview, str(interaction.user.id), source
            )
            await tell(interaction, written_text(written.added, written.updated, written.unchanged))
            return
        report = import_report_text(len(preview.records), preview.lines, preview.errors)
        if not preview.records:
            await tell(interaction, report)
            return
        view = ConfirmImport(preview, interaction.user.id, source)
        await interaction.followup.send(
            report, view=view, ephemeral=True, allowed_mentions=NO_PINGS
        )

    @app_commands.command(
        name="remove", description="Remove one of this server's prompts (curators)"
    )
    @app_commands.describe(prompt_id="The prompt's id, as /prompts list shows it")
    @curator_only()
    async def remove(self, interaction: discord.Interaction, prompt_id: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            removed = await asyncio.to_thread(
                self.bot.guild_prompts.remove, str(interaction.guild_id), prompt_id.strip()
            )
        except GuildPromptError as exc:
            await tell(interaction, str(exc))
            return
        line = prompt_line(removed.id, removed.title, removed.text)
        await tell(interaction, f"Removed {line}. Its votes are kept; it is never shown again.")

    @app_commands.command(name="list", description="This server's own prompts, privately")
    @app_commands.describe(page="Page number (10 per page)")
    async def list_prompts(
        self, interaction: discord.Interaction, page: app_commands.Range[int, 1, 10_000] = 1
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        prompts, total = await asyncio.to_thread(
            self.bot.guild_prompts.page, str(interaction.guild_id), page
        )
        lines = [prompt_line(p.local_id, p.title, p.text) for p in prompts]
        await tell(interaction, prompts_page_text(lines, page, total, LIST_PAGE))

    @app_commands.command(
        name="export", description="This server's prompts as a JSONL file (curators)"
    )
    @curator_only()
    async def export(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        data = await asyncio.to_thread(self.bot.guild_prompts.export, str(interaction.guild_id))
        if not data:
            await tell(interaction, "This server has no prompts of its own to export.")
            return
        name = f"prompts-{interaction.guild_id}.jsonl"
        await interaction.followup.send(
            "This server's prompts (import them anywhere with `/prompts import`).",
            file=discord.File(io.BytesIO(data), filename=name),
            ephemeral=True,
            allowed_mentions=NO_PINGS,
        )

    @app_commands.command(
        name="settings", description="Moderation queue, curator role, search scope"
    )
    @app_commands.describe(
        queue="Channel where submissions wait for moderators",
        curator_role="Role that may add, import and remove prompts",
        own_prompts_only="/prompt here searches only this server's prompts",
    )
    @requires(Access.SERVER_ADMIN)
    async def settings(
        self,
        interaction: discord.Interaction,
        queue: discord.TextChannel | None = None,
        curator_role: discord.Role | None = None,
        own_prompts_only: bool | None = None,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        service, guild_id = self.bot.guild_prompts, str(interaction.guild_id)
        current = await asyncio.to_thread(service.curation, guild_id)
        wanted = CurationSettings(
            str(queue.id) if queue else current.queue_channel_id,
            str(curator_role.id) if curator_role else current.curator_role_id,
            current.own_prompts_only if own_prompts_only is None else own_prompts_only,
        )
        await asyncio.to_thread(service.set_curation, guild_id, wanted, str(interaction.user.id))
        queue_text = f"<#{wanted.queue_channel_id}>" if wanted.queue_channel_id else "none"
        role_text = f"<@&{wanted.curator_role_id}>" if wanted.curator_role_id else "none"
        scope = (
            "only this server's prompts" if wanted.own_prompts_only else "shared + this server's"
        )
        await tell(
            interaction,
            f"Moderation queue: {queue_text}. Curator role: {role_text}. /prompt searches {scope}.",
        )
