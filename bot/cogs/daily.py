"""`/daily set|off|show` and posting the prompt of the day.

The elected scheduler chooses each server's prompt (retraining.daily, a pending post); this
cog, in every bot process, looks every ``PROMPTBOT_DAILY_POLL_SECONDS`` for pending posts of
the servers this process is connected to, claims each with one conditional UPDATE (so two
processes never both post it) and sends it with 👍/👎. Reactions on it are recorded as
feedback on the prompt (storage.repositories.daily), never as a query's vote.

A post that cannot be sent because the channel is gone or the bot lost its permissions there
turns the schedule off, writes the reason to the audit log (what operators read) and tells
the server's owner once, privately; `/daily show` says why it stopped, and `/daily set`
turns it back on.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.checks import Access, requires
from bot.cogs import tell
from bot.cogs.prompts import genre_choices
from bot.formatting import NO_PINGS, RESULT_COLOUR, fit_embed
from retraining.daily import next_post_at, parse_time_of_day
from retrieval.vocabulary import default_vocabulary
from serving.prompt_service import THUMBS
from storage.database import utcnow
from storage.models import DailySchedule
from storage.repositories import daily as repo
from storage.repositories.audit import write_audit
from storage.repositories.prompts import get_prompt

if TYPE_CHECKING:
    from bot.client import PromptBot

log = logging.getLogger(__name__)
CLAIM_STALE_S = 300.0  # a claim older than this belonged to a process that died mid-post
MAX_CHOICES = 25
UNLOAD_WAIT_S = 15.0  # how long shutdown waits for a post being sent


def daily_embed(title: str, text: str, genres: list[str], themes: list[str]) -> discord.Embed:
    embed = discord.Embed(
        title=title or "Prompt of the day", description=text, colour=RESULT_COLOUR
    )
    if genres:
        embed.add_field(name="Genres", value=", ".join(genres))
    if themes:
        embed.add_field(name="Themes", value=", ".join(themes))
    embed.set_footer(text="prompt of the day · react 👍 or 👎")
    return fit_embed(embed)


def schedule_text(s: DailySchedule | None) -> str:
    if s is None:
        return "No daily prompt is set here. Start one with `/daily set`."
    genre = f", genre {s.genre}" if s.genre else ""
    where = f"<#{s.channel_id}> at {s.time_of_day} {s.timezone}{genre}"
    if not s.enabled:
        return f"The daily prompt in {where} is off: {s.disabled_reason or 'turned off'}."
    due = next_post_at(s, utcnow())
    return f"A prompt is posted daily in {where}. Next: <t:{int(due.timestamp())}:f>."


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class Daily(commands.GroupCog, group_name="daily", group_description="A prompt every day"):
    def __init__(self, bot: PromptBot) -> None:
        self.bot = bot
        self.holder = _holder()
        # Held from claim to "posted": shutting down waits for it, so a post that reached
        # Discord is never left claimed (the next process would send it a second time).
        self._in_flight = asyncio.Lock()
        super().__init__()

    async def cog_load(self) -> None:
        self.post_due.change_interval(seconds=self.bot.settings.daily_poll_seconds)
        self.post_due.start()

    async def cog_unload(self) -> None:
        try:
            await asyncio.wait_for(self._in_flight.acquire(), timeout=UNLOAD_WAIT_S)
        except TimeoutError:
            log.warning("a daily post was still being sent at shutdown; a later poll retries it")
        self.post_due.cancel()

    # ------------------------------------------------------------------ commands

    @app_commands.command(name="set", description="Post a prompt every day in a channel")
    @app_commands.describe(
        channel="Where to post",
        time="Local time, 24-hour HH:MM",
        timezone="IANA time zone, e.g. Europe/Paris (default UTC)",
        genre="Only prompts of this genre",
    )
    @requires(Access.SERVER_ADMIN)
    async def set_daily(
        self,
        interaction: discord.Interaction,
        channel: discord.TextChannel,
        time: app_commands.Range[str, 1, 5],
        timezone: app_commands.Range[str, 1, 64] = "UTC",
        genre: str | None = None,
    ) -> None:
        problem = self._invalid(time, timezone, genre)
        if problem:
            await tell(interaction, problem)
            return
        me = channel.guild.me
        perms = channel.permissions_for(me) if me is not None else None
        if perms is not None and not (perms.send_messages and perms.embed_links):
            await tell(
                interaction,
                f"I cannot post embeds in {channel.mention}; give me Send "
                "Messages and Embed Links there first.",
            )
            return
        canonical = default_vocabulary().canonical_genre(genre) if genre else None
        hour, minute = parse_time_of_day(time)
        schedule = await asyncio.to_thread(
            self._store,
            str(interaction.guild_id),
            str(channel.id),
            f"{hour:02d}:{minute:02d}",
            timezone.strip(),
            canonical,
            str(interaction.user.id),
        )
        await tell(interaction, schedule)

    def _invalid(self, time: str, timezone: str, genre: str | None) -> str | None:
        try:
            parse_time_of_day(time)
        except ValueError as exc:
            return str(exc).capitalize() + "."
        try:
            ZoneInfo(timezone.strip())
        except (ZoneInfoNotFoundError, ValueError):
            return f"I don't know the time zone {timezone!r}; use a name like Europe/Paris or UTC."
        if genre and default_vocabulary().canonical_genre(genre) is None:
            return f"I don't know the genre {genre!r}; pick one from the list."
        return None

    def _store(
        self,
        guild_id: str,
        channel_id: str,
        time: str,
        timezone: str,
        genre: str | None,
        actor: str,
    ) -> str:
        with self.bot.db.session() as session:
            schedule = repo.set_schedule(
                session, guild_id, channel_id, time, timezone, genre, actor, utcnow()
            )
            write_audit(
                session,
                f"discord:{actor}",
                "daily.set",
                utcnow(),
                f"guild:{guild_id}",
                {"channel": channel_id, "time": time, "timezone": timezone},
            )
            return schedule_text(schedule)

    @app_commands.command(name="off", description="Stop the daily prompt")
    @requires(Access.SERVER_ADMIN)
    async def off(self, interaction: discord.Interaction) -> None:
        def remove() -> bool:
            with self.bot.db.session() as session:
                return repo.delete_schedule(session, str(interaction.guild_id))

        removed = await asyncio.to_thread(remove)
        await tell(
            interaction, "The daily prompt is off." if removed else "No daily prompt was set."
        )

    @app_commands.command(name="show", description="Where and when the daily prompt is posted")
    async def show(self, interaction: discord.Interaction) -> None:
        def read() -> str:
            with self.bot.db.session() as session:
                return schedule_text(repo.get_schedule(session, str(interaction.guild_id)))

        await tell(interaction, await asyncio.to_thread(read))

    @set_daily.autocomplete("timezone")
    async def timezone_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        typed = current.strip().lower()
        names = sorted(z for z in available_timezones() if typed in z.lower())
        return [app_commands.Choice(name=z, value=z) for z in names[:MAX_CHOICES]]

    @set_daily.autocomplete("genre")
    async def genre_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return genre_choices(current)

    # ------------------------------------------------------------------ posting

    @tasks.loop(seconds=10.0)
    async def post_due(self) -> None:
        try:
            await self.post_pending()
        except Exception:
            log.exception("posting daily prompts failed; trying again at the next poll")

    @post_due.before_loop
    async def _wait_ready(self) -> None:
        await self.bot.wait_until_ready()

    async def post_pending(self) -> int:
        """Send every pending post of the servers this process has; returns how many."""
        guild_ids = {str(g.id) for g in self.bot.guilds}
        now = utcnow()
        stale = now - timedelta(seconds=CLAIM_STALE_S)

        def pending() -> list[repo.PostToSend]:
            with self.bot.db.session() as session:
                return repo.pending_posts(session, guild_ids, stale)

        sent = 0
        for post in await asyncio.to_thread(pending):
            async with self._in_flight:
                if await self._post(post, stale):
                    sent += 1
        return sent

    async def _post(self, post: repo.PostToSend, stale: datetime) -> bool:
        def claim() -> tuple[bool, tuple[str, str, list[str], list[str]] | None]:
            with self.bot.db.session() as session:
                if not repo.claim_post(session, post.post_id, self.holder, utcnow(), stale):
                    return False, None
                prompt = get_prompt(session, post.prompt_id)
                if prompt is None:
                    return True, None
                return True, (prompt.title, prompt.text, list(prompt.genres), list(prompt.themes))

        claimed, content = await asyncio.to_thread(claim)
        if not claimed:
            return False
        if content is None:
            await asyncio.to_thread(self._finish, post.post_id, None, True)
            return False
        try:
            channel = self.bot.get_channel(int(post.channel_id)) or await self.bot.fetch_channel(
                int(post.channel_id)
            )
            if not isinstance(channel, discord.abc.Messageable):
                await self._channel_lost(post, LookupError("not a text channel"))
                return False
            message = await channel.send(embed=daily_embed(*content), allowed_mentions=NO_PINGS)
        except (discord.NotFound, discord.Forbidden) as exc:
            await self._channel_lost(post, exc)
            return False
        except discord.HTTPException as exc:  # Discord trouble: put it back for the next poll
            log.warning("daily prompt for %s not sent yet: %s", post.guild_id, exc)
            await asyncio.to_thread(self._release, post.post_id)
            return False
        await asyncio.to_thread(self._finish, post.post_id, str(message.id), False)
        for emoji in THUMBS:
            try:
                await message.add_reaction(emoji)
            except discord.HTTPException:
                break
        return True

    def _finish(self, post_id: int, message_id: str | None, failed: bool) -> None:
        with self.bot.db.session() as session:
            repo.finish_post(session, post_id, message_id, utcnow(), failed=failed)

    def _release(self, post_id: int) -> None:
        with self.bot.db.session() as session:
            repo.release_post(session, post_id)

    async def _channel_lost(self, post: repo.PostToSend, exc: Exception) -> None:
        """Turn the schedule off, note it for operators, tell the server's owner once."""
        what = (
            "was deleted"
            if isinstance(exc, discord.NotFound | TypeError)
            else ("no longer lets me post")
        )
        reason = f"the channel <#{post.channel_id}> {what}"

        def disable() -> bool:
            now = utcnow()
            with self.bot.db.session() as session:
                repo.finish_post(session, post.post_id, None, now, failed=True)
                if repo.disable_schedule(session, post.guild_id, reason, now):
                    write_audit(
                        session,
                        "promptbot",
                        "daily.disabled",
                        now,
                        f"guild:{post.guild_id}",
                        {"channel": post.channel_id, "reason": reason},
                    )
                return repo.mark_notified(session, post.guild_id, now)

        first = await asyncio.to_thread(disable)
        log.warning("daily prompt of guild %s turned off: %s", post.guild_id, reason)
        if first:
            await self._tell_owner(post.guild_id, reason)

    async def _tell_owner(self, guild_id: str, reason: str) -> None:
        guild = self.bot.get_guild(int(guild_id))
        if guild is None or guild.owner_id is None:
            return
        text = (
            f"The daily prompt in {guild.name} is off: {reason}. "
            "A server manager can start it again with `/daily set`."
        )
        try:
            owner = self.bot.get_user(guild.owner_id) or await self.bot.fetch_user(guild.owner_id)
            await owner.send(text, allowed_mentions=NO_PINGS)
        except discord.HTTPException as exc:
            log.info("could not tell the owner of %s: %s", guild_id, exc)
