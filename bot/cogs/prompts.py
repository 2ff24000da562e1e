"""`/prompt`: the best-matching prompts, one message each, ready for 👍/👎 votes.

Discord wants a first response within 3 s. Keywords are validated first, on the event loop
(cheap, pure), so bad input gets a private explanation and nothing is recorded. The search
and its recording run in a worker thread. When the search cannot be trusted to be quick —
other searches already in flight (a burst queues them behind each other on a few cores), no
engine loaded yet, or the interaction already old when it reached the bot — the bot defers
("thinking…") at once and sends the results as follow-ups; otherwise it waits up to
``defer_after`` seconds for a direct answer before deferring. A /prompt whose window closed
anyway (Discord answers 10062 *Unknown interaction*) is logged as one line, not a traceback.

A server's settings (serving.guild_settings) decide where `/prompt` answers (elsewhere the
user gets a private pointer to the allowed channels), a stricter cooldown than the bot's, the
default and maximum count and the content ceiling; ``mature`` prompts are only served in
channels Discord marks age-restricted.

Each result message's id is attached to its result row before the bot adds its own 👍/👎, so
every vote maps to one (query, prompt, rank, model version, arm).

The cog also keeps the served model current: a background loop calls ``pool.refresh()``
(in a thread) every ``champion_poll_seconds``, so promotions made by the scheduler or the
CLI reach `/prompt` without a restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.checks import UserCooldowns, prompt_cooldown
from bot.cogs import defer_publicly, send_public, tell
from bot.formatting import (
    MODEL_UNAVAILABLE,
    NO_CORPUS,
    channel_pointer,
    cooldown_notice,
    index_being_built,
    no_results,
    result_embed,
    results_not_posted,
    unknown_genre,
)
from retrieval.vocabulary import default_vocabulary
from serving.model_pool import EngineBuilding, NoCorpusError
from serving.prompt_service import THUMBS, BadQueryError, ServedRequest, validate_keywords
from storage.repositories.guild_settings import GuildSettings

if TYPE_CHECKING:
    from bot.client import PromptBot

log = logging.getLogger(__name__)
MAX_CHOICES = 25  # Discord's limit for autocomplete
UNKNOWN_INTERACTION = 10062  # Discord's code once an interaction's response window has closed


def _expired(exc: discord.HTTPException) -> bool:
    return isinstance(exc, discord.NotFound) and exc.code == UNKNOWN_INTERACTION


def genre_choices(current: str) -> list[app_commands.Choice[str]]:
    """Canonical genres whose name or a synonym contains what the user typed."""
    typed = current.strip().lower()
    matches = [
        name
        for name, synonyms in default_vocabulary().genres.items()
        if not typed or any(typed in word.lower() for word in (name, *synonyms))
    ]
    return [app_commands.Choice(name=name, value=name) for name in matches[:MAX_CHOICES]]


class Prompts(commands.Cog):
    #: seconds to wait for a search the bot expects to be quick before deferring (window: 3 s)
    defer_after = 1.0
    #: searches already running at which a new one defers at once instead of waiting
    busy_searches = 2
    #: an interaction older than this when the bot sees it defers at once (a busy loop)
    late_after_s = 1.0

    def __init__(self, bot: PromptBot) -> None:
        self.bot = bot
        self.searches_in_flight = 0
        self.server_cooldowns: dict[str, UserCooldowns] = {}  # a server's stricter rate

    async def cog_load(self) -> None:
        self.watch_champion.change_interval(seconds=self.bot.settings.champion_poll_seconds)
        self.watch_champion.start()

    async def cog_unload(self) -> None:
        self.watch_champion.cancel()

    @tasks.loop(seconds=5.0)
    async def watch_champion(self) -> None:
        """Swap in a new champion (or corpus) soon after it changes, off the event loop."""
        before = self.bot.pool.state
        try:
            state = await asyncio.to_thread(self.bot.pool.refresh)
        except NoCorpusError:
            return
        except Exception:
            log.exception("refreshing the model pool failed; still serving the last model")
            return
        if before is not None and state != before:
            log.info("now serving %s (champion %s)", state.serving_id, state.champion_id)

    @app_commands.command(
        name="prompt", description="Find writing prompts that match your keywords"
    )
    @app_commands.describe(
        keywords="What you'd like to write about, e.g. fantasy dragons",
        count="How many prompts (1-5; this server may allow fewer)",
        genre="Only prompts of this genre",
    )
    @prompt_cooldown()
    async def prompt(
        self,
        interaction: discord.Interaction,
        keywords: str,
        count: app_commands.Range[int, 1, 5] | None = None,
        genre: str | None = None,
    ) -> None:
        started, outcome = time.perf_counter(), "unavailable"  # a raise goes to the tree's on_error
        try:
            outcome = await self._answer(interaction, keywords, count, genre)
        except discord.NotFound as exc:
            if exc.code != UNKNOWN_INTERACTION:
                raise
            outcome = "expired"
            log.warning(
                "/prompt from user %s went unanswered: Discord's response window had closed "
                "(%.1f s after it was sent; %d searches in flight)",
                interaction.user.id,
                _age_s(interaction),
                self.searches_in_flight,
            )
        finally:
            self.bot.metrics.observe_prompt(outcome, time.perf_counter() - started)

    async def _answer(
        self, interaction: discord.Interaction, keywords: str, count: int | None, genre: str | None
    ) -> str:
        """Answer a /prompt; returns how it ended (one of serving.metrics.PROMPT_OUTCOMES)."""
        server = await asyncio.to_thread(self.bot.guild_settings.get, interaction.guild_id)
        if not server.allows_channel(_str_or_none(interaction.channel_id)):
            await tell(interaction, channel_pointer(server.prompt_channels))
            return "bad_input"
        wait = self._server_cooldown(interaction, server)
        if wait is not None:
            rate, per = self._server_rate(server)
            await tell(interaction, cooldown_notice(wait, rate, per))
            return "bad_input"
        try:
            validate_keywords(keywords, self.bot.settings.max_keywords_chars)
        except BadQueryError as exc:
            await tell(interaction, str(exc))
            return "bad_input"
        canonical = default_vocabulary().canonical_genre(genre) if genre else None
        if genre and canonical is None:
            await tell(interaction, unknown_genre(genre))
            return "bad_input"
        served = await self._serve(interaction, keywords, count, canonical)
        if isinstance(served, str):
            return served
        if not served.results:
            await tell(interaction, no_results(canonical))
            return "no_results"
        messages = await self._send_results(interaction, served)
        self.bot.metrics.observe_results((r.model_version, r.arm) for r in served.results)
        await self._add_thumbs(messages)
        if len(messages) < len(served.results):
            await tell(interaction, results_not_posted(len(messages), len(served.results)))
        return "served" if messages else "unavailable"

    def _server_rate(self, server: GuildSettings) -> tuple[int, float]:
        settings = self.bot.settings
        return (
            server.cooldown_requests or settings.cooldown_requests,
            server.cooldown_seconds or settings.cooldown_seconds,
        )

    def _server_cooldown(
        self, interaction: discord.Interaction, server: GuildSettings
    ) -> float | None:
        """Seconds to wait under the server's own, stricter cooldown (None: go ahead). The
        bot's global cooldown has already been checked (``prompt_cooldown``)."""
        if server.guild_id is None or (
            server.cooldown_requests is None and server.cooldown_seconds is None
        ):
            return None
        rate, per = self._server_rate(server)
        buckets = self.server_cooldowns.get(server.guild_id)
        if buckets is None or (buckets.rate, buckets.per) != (rate, per):
            buckets = self.server_cooldowns[server.guild_id] = UserCooldowns(rate, per)
        return buckets.retry_after(interaction.user.id, interaction.created_at.timestamp())

    @prompt.autocomplete("genre")
    async def genre_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return genre_choices(current)

    async def _serve(
        self, interaction: discord.Interaction, keywords: str, count: int | None, genre: str | None
    ) -> ServedRequest | str:
        """Search and record in a thread; defer if it may be slow; explain failures privately
        (then the outcome for the metrics is returned instead)."""
        if self._must_defer_at_once(interaction):
            await defer_publicly(interaction)
        work = asyncio.ensure_future(
            asyncio.to_thread(
                self.bot.service.serve,
                str(interaction.user.id),
                keywords,
                count,
                genre,
                _str_or_none(interaction.guild_id),
                _str_or_none(interaction.channel_id),
                "discord",
                None,
                _age_restricted(interaction.channel),
            )
        )
        self._count_in_flight(work)
        if not interaction.response.is_done():
            done, _ = await asyncio.wait({work}, timeout=self.defer_after)
            if not done:
                await defer_publicly(interaction)
        try:
            return await work
        except BadQueryError as exc:
            await tell(interaction, str(exc))
            return "bad_input"
        except NoCorpusError:
            await tell(interaction, NO_CORPUS)
            return "no_corpus"
        except EngineBuilding as exc:
            await tell(interaction, index_being_built(exc.percent))
            return "building"
        except Exception:
            log.exception("serving %r failed", keywords)
            await tell(interaction, MODEL_UNAVAILABLE)
            return "unavailable"

    def _must_defer_at_once(self, interaction: discord.Interaction) -> bool:
        """Whether a direct answer could miss Discord's 3 s window, judged before searching."""
        return (
            self.searches_in_flight >= self.busy_searches
            or self._swapping_engines()
            or _age_s(interaction) > self.late_after_s
        )

    def _swapping_engines(self) -> bool:
        """A new champion or corpus is being loaded, so searches wait for it. (With nothing
        loaded at all the search fails fast or loads; the ``defer_after`` timer covers that.)"""
        return self.bot.pool.state is not None and not self.bot.pool.ready()

    def _count_in_flight(self, work: asyncio.Future[ServedRequest]) -> None:
        """Count the search until its thread finishes, even if nobody awaits it any more (the
        response failed): the result is then consumed here, never reported as unretrieved."""
        self.searches_in_flight += 1

        def finished(done: asyncio.Future[ServedRequest]) -> None:
            self.searches_in_flight -= 1
            if not done.cancelled():
                done.exception()

        work.add_done_callback(finished)

    async def _send_results(
        self, interaction: discord.Interaction, served: ServedRequest
    ) -> list[discord.Message]:
        """One message per result, its id stored as soon as it is sent (before the bot's own
        👍/👎 invite votes). A result Discord refuses is skipped, not fatal: the others are
        still posted and take votes, and the caller tells the user what was not posted."""
        sent: list[discord.Message] = []
        total = len(served.results)
        for result in served.results:
            try:
                message = await send_public(interaction, result_embed(result, total))
            except discord.HTTPException as exc:
                if _expired(exc) and not sent:
                    raise  # nothing reached the user: the /prompt went unanswered
                log.warning(
                    "result %d of %d (prompt %s) could not be posted: %s %s",
                    result.rank,
                    total,
                    result.prompt.id,
                    exc.status,
                    exc.text,
                )
                if _expired(exc):
                    break
                continue
            await asyncio.to_thread(
                self.bot.service.attach_message,
                result.result_id,
                str(message.id),
                str(message.channel.id),
            )
            sent.append(message)
        return sent

    async def _add_thumbs(self, messages: list[discord.Message]) -> None:
        """The bot's own 👍/👎 invite votes; rate limits are retried by discord.py."""
        for message in messages:
            for emoji in THUMBS:
                try:
                    await message.add_reaction(emoji)
                except discord.Forbidden:  # no Add Reactions here: users can still react
                    log.warning("no permission to add reactions in channel %s", message.channel.id)
                    return
                except discord.HTTPException as exc:
                    log.warning("could not add %s to message %s: %s", emoji, message.id, exc)


def _age_s(interaction: discord.Interaction) -> float:
    """Seconds since Discord created the interaction (its id holds the time)."""
    return (discord.utils.utcnow() - interaction.created_at).total_seconds()


def _age_restricted(channel: object) -> bool:
    """Discord marks the channel NSFW (age-restricted); DMs and unknown channels are not."""
    is_nsfw = getattr(channel, "is_nsfw", None)
    return bool(is_nsfw()) if callable(is_nsfw) else False


def _str_or_none(value: int | None) -> str | None:
    return None if value is None else str(value)
