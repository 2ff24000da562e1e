"""What the bot's messages look like: result embeds, admin texts and short notices.

Kept apart from the cogs so the wording lives in one place and can be tested without
Discord. Nothing here pings anyone: callers send with ``NO_PINGS``. The model status is
worded here for both `/model status` and `promptbot models status` (text and ``--json``), so
the two never drift apart and the bot does not build the CLI to answer.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

import discord

from storage.repositories.guild_settings import GuildSettings

if TYPE_CHECKING:
    from retraining.model_admin import (
        ExperimentSummary,
        LoopStatus,
        ServingSummary,
        TrainingRunSummary,
        VersionSummary,
    )
    from serving.privacy import Forgotten, UserData
    from serving.prompt_service import ServedResult

NO_PINGS = discord.AllowedMentions.none()
RESULT_COLOUR = discord.Colour.from_rgb(88, 101, 242)
MESSAGE_LIMIT = 2000
FIELD_LIMIT = 1024

NO_CORPUS = (
    "No prompts are imported yet, so there is nothing to search. An admin can run "
    "`promptbot init` (or `promptbot import FILE`)."
)
MODEL_UNAVAILABLE = (
    "The prompt model could not be loaded just now, so nothing was recorded. "
    "Please try again later; admins can check `/model status`."
)


def index_being_built(percent: int) -> str:
    return (
        f"The search index is being built ({percent}% done), so there is nothing to search "
        "yet and nothing was recorded. Please try again in a minute."
    )


def results_not_posted(posted: int, total: int) -> str:
    if posted == 0:
        return (
            "Discord refused to post the results, so none are shown and there is nothing to "
            "vote on. Your request was kept; please try again."
        )
    return (
        f"Discord refused {total - posted} of the {total} results, so only {posted} "
        f"{'is' if posted == 1 else 'are'} shown; votes on {'it' if posted == 1 else 'them'} "
        "count as usual."
    )


NOT_OPERATOR = (
    "Only the bot's operators can do that: this model answers every server the bot is in, so "
    "changing it is up to the people who run the bot (its owner or team, and anyone they name "
    "in its configuration). Server managers can see `/model status`."
)
NOT_SERVER_ADMIN = (
    "Only this server's managers (Manage Server) or members with the bot's admin role can do that."
)
GUILD_ONLY = "That only works inside a server, not in direct messages."
UNEXPECTED = "Something went wrong on my side and nothing was recorded. Please try again."
NO_RESULTS = "No prompts match those keywords{genre}. Try other words{hint}."


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def result_embed(result: ServedResult, total: int) -> discord.Embed:
    """One result as an embed; the footer names the model version that ranked it."""
    prompt = result.prompt
    embed = discord.Embed(title=prompt.title, description=prompt.text, colour=RESULT_COLOUR)
    if prompt.genres:
        embed.add_field(name="Genres", value=", ".join(prompt.genres))
    if prompt.themes:
        embed.add_field(name="Themes", value=", ".join(prompt.themes))
    embed.set_footer(
        text=f"model {result.model_version} · {result.rank} of {total} · react 👍 or 👎 to teach me"
    )
    return fit_embed(embed)


# Discord's embed limits, in characters (discord.py's len(embed) counts the total the same way).
EMBED_TITLE_LIMIT = 256
EMBED_DESCRIPTION_LIMIT = 4096
EMBED_FIELD_NAME_LIMIT = 256
EMBED_FOOTER_LIMIT = 2048
EMBED_AUTHOR_LIMIT = 256
EMBED_TOTAL_LIMIT = 6000
EMBED_MAX_FIELDS = 25


def fit_embed(embed: discord.Embed) -> discord.Embed:
    """Cut ``embed`` in place to every Discord limit, so sending it can never be refused.

    Each part is first clipped to its own limit and fields past the 25th dropped. If the whole
    is still over 6,000 characters, the long free text gives way first (the description, then
    field values from the last, then the title), and the footer naming the model version, which
    a vote depends on, only as the very last resort (after field names and the author).
    """
    if embed.title:
        embed.title = _clip(embed.title, EMBED_TITLE_LIMIT)
    if embed.description:
        embed.description = _clip(embed.description, EMBED_DESCRIPTION_LIMIT)
    while len(embed.fields) > EMBED_MAX_FIELDS:
        embed.remove_field(EMBED_MAX_FIELDS)
    for i, f in enumerate(embed.fields):
        name, value = _clip(f.name or "", EMBED_FIELD_NAME_LIMIT), _clip(f.value or "", FIELD_LIMIT)
        embed.set_field_at(i, name=name, value=value, inline=bool(f.inline))
    if embed.footer.text:
        embed.set_footer(
            text=_clip(embed.footer.text, EMBED_FOOTER_LIMIT), icon_url=embed.footer.icon_url
        )
    if embed.author.name:
        author = embed.author
        embed.set_author(
            name=_clip(author.name, EMBED_AUTHOR_LIMIT), url=author.url, icon_url=author.icon_url
        )
    _shrink_to_total(embed)
    return embed


def _shrink_to_total(embed: discord.Embed) -> None:
    """Shorten the parts in the order the docstring of fit_embed gives until the total fits."""
    last_first = list(reversed(range(len(embed.fields))))
    order = [
        "description",
        *(f"value {i}" for i in last_first),
        "title",
        *(f"name {i}" for i in last_first),
        "author",
        "footer",
    ]
    for part in order:
        excess = len(embed) - EMBED_TOTAL_LIMIT
        if excess <= 0:
            return
        _shorten(embed, part, excess)


def _shorten(embed: discord.Embed, part: str, excess: int) -> None:
    kind, _, index = part.partition(" ")
    if kind == "description" and embed.description:
        embed.description = _clip_by(embed.description, excess)
    elif kind == "title" and embed.title:
        embed.title = _clip_by(embed.title, excess)
    elif kind in ("value", "name"):
        f = embed.fields[int(index)]
        name, value = f.name or "", f.value or ""
        if kind == "value":
            value = _clip_by(value, excess)
        else:
            name = _clip_by(name, excess)
        embed.set_field_at(int(index), name=name, value=value, inline=bool(f.inline))
    elif kind == "author" and embed.author.name:
        author = embed.author
        embed.set_author(
            name=_clip_by(author.name, excess), url=author.url, icon_url=author.icon_url
        )
    elif kind == "footer" and embed.footer.text:
        embed.set_footer(text=_clip_by(embed.footer.text, excess), icon_url=embed.footer.icon_url)


def _clip_by(text: str, excess: int) -> str:
    """``text`` shortened by ``excess`` characters (keeping at least the ellipsis)."""
    return _clip(text, max(1, len(text) - excess))


def no_results(genre: str | None) -> str:
    return NO_RESULTS.format(
        genre=f" in {genre}" if genre else "", hint=" or no genre" if genre else ""
    )


def unknown_genre(genre: str) -> str:
    return f"I don't know the genre “{plain(visible(_clip(genre, 50)))}”; pick one from the list."


def cooldown_notice(retry_after: float, rate: int, per: float) -> str:
    return (
        f"You're asking faster than I can keep up ({rate} prompts per {per:g} s). "
        f"Please try again in {max(1, round(retry_after))} s."
    )


def iso(moment: datetime | None) -> str | None:
    """Times as admins read them: ISO 8601 to the second, UTC like everything stored."""
    return moment.isoformat(timespec="seconds") if moment else None


def status_lines(status: LoopStatus) -> str:
    """``promptbot models status``: one line per part of the loop."""
    champ, cand, run = status.champion, status.candidate, status.last_training_run
    lines = [
        f"champion: {champ.id} ({champ.label})" if champ else "champion: none",
        f"candidate: {cand.id} — {cand.reason}" if cand else "candidate: none",
        experiment_line(status.experiment) if status.experiment else "experiment: none",
        training_run_line(run) if run else "last training run: none",
    ]
    if status.serving:
        lines.append(f"serving: {serving_summary_line(status.serving)}")
    return "\n".join(lines)


def experiment_line(exp: ExperimentSummary) -> str:
    """Votes per arm (and, interleaved, the requests won, lost and tied), p and decision."""
    stats = exp.stats or {}
    arms = " vs ".join(
        f"{arm} 👍{stats.get(arm, {}).get('up', 0)} 👎{stats.get(arm, {}).get('down', 0)}"
        for arm in ("champion", "candidate")
    )
    design = "A/B"
    if exp.mode == "interleave":
        design, agreed = "interleaved", stats.get("agreed", {})
        arms += (
            f"; candidate won {stats.get('wins', 0)}, lost {stats.get('losses', 0)}, "
            f"tied {stats.get('ties', 0)} interleaved requests; results both rank alike "
            f"👍{agreed.get('up', 0)} 👎{agreed.get('down', 0)} (credited to neither)"
        )
    decision = f"; decision: {exp.decision} ({exp.reason})" if exp.decision else ""
    return (
        f"experiment {exp.id} ({exp.status}, {design}): {exp.champion} vs "
        f"{exp.candidate} at {exp.traffic_share:.0%} — {arms}; "
        f"p={stats.get('p_value', 1.0):.3g}{decision}"
    )


def training_run_line(run: TrainingRunSummary) -> str:
    return f"last training run: #{run.id} {run.status} at {iso(run.started_at)} — {run.reason}"


def status_text(status: LoopStatus) -> str:
    """``/model status``: the CLI's wording, in a code block so columns stay readable."""
    return _clip(f"```\n{status_lines(status)}\n```", MESSAGE_LIMIT)


def public_status_text(status: LoopStatus) -> str:
    """``/model status`` for a server admin: which model serves and whether an experiment
    runs, without what only operators act on (candidates' reasons, training runs, the
    experiment's counts and why a model failed to load)."""
    champ, exp = status.champion, status.experiment
    lines = [
        f"champion: {champ.id} ({champ.label})" if champ else "champion: none",
        f"experiment: {exp.champion} vs {exp.candidate} ({exp.status})"
        if exp
        else "experiment: none",
    ]
    if status.serving:
        failed = status.serving.fallback_reason
        fallback = " (fallback: the champion failed to load)" if failed else ""
        lines.append(f"serving: {status.serving.version_id}{fallback}")
    lines.append("Changing the model is up to the bot's operators: it answers every server.")
    return _clip("```\n" + "\n".join(lines) + "\n```", MESSAGE_LIMIT)


def settings_text(settings: GuildSettings, global_cooldown: tuple[int, float]) -> str:
    """`/settings show`: every setting, its value, and whether it is the default."""
    default = GuildSettings(settings.guild_id)
    rate, per = global_cooldown

    def mark(name: str) -> str:
        return "" if getattr(settings, name) == getattr(default, name) else "  (changed)"

    channels = (
        ", ".join(f"<#{c}>" for c in sorted(settings.prompt_channels))
        if settings.prompt_channels
        else "every channel"
    )
    requests = settings.cooldown_requests or rate
    seconds = settings.cooldown_seconds or per
    lines = [
        f"prompt_channels: {channels}{mark('prompt_channels')}",
        f"default_count: {settings.default_count}{mark('default_count')}",
        f"max_count: {settings.max_count}{mark('max_count')}",
        f"cooldown_requests: {requests} per user{mark('cooldown_requests')}",
        f"cooldown_seconds: {seconds:g}{mark('cooldown_seconds')}",
        f"content_ceiling: {settings.content_ceiling.value}{mark('content_ceiling')}"
        " (mature only in age-restricted channels)",
        f"join_experiments: {_yes_no(settings.join_experiments)}{mark('join_experiments')}",
        f"contribute_votes: {_yes_no(settings.contribute_votes)}{mark('contribute_votes')}"
        " (no: votes count for this server's statistics only, never for training)",
    ]
    return _clip("\n".join(lines), MESSAGE_LIMIT)


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def channel_pointer(channels: frozenset[str]) -> str:
    """/prompt in a channel the server did not allow: where it does answer."""
    shown = ", ".join(f"<#{c}>" for c in sorted(channels)[:10])
    return f"I answer `/prompt` in {shown} on this server."


FORGET_QUESTION = (
    "This deletes every 👍/👎 vote of yours and unlinks every search you made from you, in "
    "every server. Models already trained keep no per-user data, so nothing of yours stays in "
    "them. It can't be undone. Delete your data?"
)
FORGET_CANCELLED = "Cancelled: nothing was deleted."


def privacy_text(data: UserData, guild_names: dict[str, str]) -> str:
    """`/privacy show`: counts per server and what they are used for."""
    if not data.total_requests and not data.total_votes:
        return "I keep nothing about you: no searches, no votes."
    places = sorted(set(data.requests) | set(data.votes), key=lambda g: (g is None, g or ""))
    lines = [f"I keep {data.total_requests} search(es) and {data.total_votes} vote(s) of yours:"]
    for guild_id in places:
        where = (
            "direct messages"
            if guild_id is None
            else _clip(guild_names.get(guild_id, f"server {guild_id}"), 100)
        )
        lines.append(
            f"• {where}: {data.requests.get(guild_id, 0)} search(es), "
            f"{data.votes.get(guild_id, 0)} vote(s)"
        )
    lines += [
        "Searches: the keywords, where and when, and which prompts I showed (for statistics "
        "and to know what a vote was about). Votes: which prompt you rated 👍/👎, used to "
        "train the shared model (unless a server opted out) and to judge experiments.",
        "`/privacy forget` deletes your votes and unlinks your searches.",
    ]
    return _clip("\n".join(lines), MESSAGE_LIMIT)


def forgotten_text(forgotten: Forgotten) -> str:
    return (
        f"Done: deleted {forgotten.votes} vote(s) and unlinked {forgotten.requests} "
        "search(es) from you. Future training can't contain them."
    )


def status_json(status: LoopStatus) -> dict[str, Any]:
    """``promptbot models status --json``: every field, times as ISO strings."""
    return _jsonable(asdict(status))


def version_json(version: VersionSummary) -> dict[str, Any]:
    """One row of ``promptbot models list --json``."""
    return _jsonable(asdict(version))


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value


def models_text(versions: list[VersionSummary]) -> str:
    """``/model list``: newest last; older versions are cut if the list is long."""
    lines = []
    for v in versions:
        ndcg = v.test_ndcg5
        score = f" · NDCG@5 {ndcg:.3f}" if ndcg is not None else ""
        label = f" · {v.label}" if v.label else ""
        lines.append(f"`{v.id}` {v.status}{score}{label} · {iso(v.created_at)}")
    if not lines:
        return "No model versions are registered yet."
    text = "\n".join(lines)
    while len(text) > MESSAGE_LIMIT - 40 and len(lines) > 1:
        lines.pop(0)
        text = f"… (older versions omitted)\n{chr(10).join(lines)}"
    return _clip(text, MESSAGE_LIMIT)


def serving_line(serving_id: str, fallback_reason: str | None, backend: str = "onnx") -> str:
    served = f"{serving_id} [{PRECISION_NAMES.get(backend, backend)}]"
    return f"{served} ({fallback_reason})" if fallback_reason else served


def serving_summary_line(serving: ServingSummary) -> str:
    return serving_line(serving.version_id, serving.fallback_reason, serving.backend)


PRECISION_NAMES = {"onnx": "ONNX fp32", "onnx-int8": "ONNX int8", "torch": "torch"}


# --------------------------------------------------------------------------- a server's prompts

NOT_CURATOR = (
    "Only server managers (Manage Server) or members with the server's curator role can "
    "change this server's prompts."
)
NO_QUEUE = (
    "This server has no moderation queue yet, so submissions cannot be reviewed. A server "
    "manager can set one with `/prompts settings queue:#channel`."
)
QUEUE_UNREACHABLE = (
    "Your submission is saved, but I cannot post in the moderation channel; please tell a "
    "server manager."
)


def visible(text: str) -> str:
    """Control and other invisible characters written as escapes (``\\x1b``), so a user who
    pasted one sees what they sent instead of an unexplained gap."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def plain(text: str) -> str:
    """User text shown inline: markdown and mentions shown literally, never interpreted."""
    return discord.utils.escape_mentions(discord.utils.escape_markdown(text))


def prompt_line(local_id: str | None, title: str, text: str, width: int = 90) -> str:
    shown = title or text
    return f"`{plain(local_id or '?')}` {plain(_clip(shown, width))}"


def prompts_page_text(lines: list[str], page: int, total: int, per_page: int) -> str:
    if total == 0:
        return "This server has no prompts of its own yet. Add one with `/prompts add`."
    pages = max(1, -(-total // per_page))
    header = f"This server's prompts, page {page} of {pages} ({total:,} in all):"
    return _clip("\n".join([header, *lines]), MESSAGE_LIMIT)


def written_text(added: int, updated: int, unchanged: int) -> str:
    parts = [f"{added} added"]
    if updated:
        parts.append(f"{updated} updated")
    if unchanged:
        parts.append(f"{unchanged} unchanged")
    return "Done: " + ", ".join(parts) + ". They are searchable now."


def import_report_text(good: int, lines: int, errors: list[Any], shown: int = 15) -> str:
    """The per-line report of an import: what would land and what would not, and why."""
    head = f"{good:,} of {lines:,} line(s) can be imported."
    if not errors:
        return head
    listed = [f"line {e.line}: {plain(e.message)}" for e in errors[:shown]]
    more = len(errors) - shown
    if more > 0:
        listed.append(f"… and {more:,} more bad line(s).")
    tail = (
        "Nothing is imported yet. Press **Import the good lines** to add them, or fix the file "
        "and try again."
        if good
        else "Nothing can be imported from it."
    )
    return _clip("\n".join([head, f"{len(errors):,} line(s) refused:", *listed, tail]), 1900)


def submission_embed(submission: Any, state: str = "") -> discord.Embed:
    """A submission as moderators see it in the queue (text as written, never pinging)."""
    embed = discord.Embed(
        title=submission.title or "(no title)",
        description=submission.text,
        colour=RESULT_COLOUR,
    )
    if submission.genres:
        embed.add_field(name="Genres", value=", ".join(submission.genres))
    if submission.themes:
        embed.add_field(name="Themes", value=", ".join(submission.themes))
    if submission.rating:
        embed.add_field(name="Rating", value=submission.rating)
    embed.add_field(name="From", value=f"<@{submission.submitter_id}>", inline=False)
    status = state or f"waiting for a moderator (submission {submission.id})"
    embed.set_footer(text=status)
    return fit_embed(embed)


def outcome_for_submitter(guild_name: str, title: str, approved: bool, reason: str = "") -> str:
    what = f"Your prompt “{_clip(title or 'untitled', 80)}” in {guild_name}"
    if approved:
        return f"{what} was approved and can now be found with /prompt there."
    because = f" Reason: {reason}" if reason else ""
    return f"{what} was not accepted.{because}"
