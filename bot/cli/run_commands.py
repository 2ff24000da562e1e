"""`promptbot run`: the Discord bot, and a candidate to run the retraining schedule.

Sharding: one process runs every shard Discord recommends (``GET /gateway/bot``) unless
``--shard-count`` says how many there are in all and ``--shard-ids`` which of them this process
runs; processes running the other ids share the same database, so votes, requests and model
promotions are common to all.

With the schedule enabled (the default) the process joins the election for the scheduler
lease and runs the schedule only while elected, so any number of bots and `promptbot worker`s
may share one database; `--no-scheduler` leaves the schedule to the others.

Start-up problems end in one line on stderr and a non-zero exit: no token, a token Discord
rejects, a bad endpoint URL, an un-migrated database. The token itself is never printed.
"""

from __future__ import annotations

import logging

import typer

from bot.cli.common import fail, load_settings, open_database

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def register(app: typer.Typer) -> None:
    app.command("run")(run)


def configure_logging() -> None:
    """Our INFO lines; discord.py's warnings and errors only (its INFO chatter is noise)."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    logging.getLogger("discord").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def parse_shard_ids(text: str | None, shard_count: int | None) -> list[int] | None:
    """``"0,2"`` -> ``[0, 2]``; each id must be below ``shard_count``, which it requires
    (discord.py cannot tell which part of an unknown total this process would be)."""
    if text is None:
        return None
    if shard_count is None:
        fail("--shard-ids needs --shard-count (the total number of shards of all processes).")
    try:
        ids = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        fail(f"--shard-ids must be comma-separated numbers, e.g. 0,1 (got {text!r}).")
    if not ids or not all(0 <= shard < shard_count for shard in ids):
        fail(f"--shard-ids must be between 0 and {shard_count - 1} (got {text!r}).")
    return ids


def run(
    no_scheduler: bool = typer.Option(
        False,
        "--no-scheduler",
        help="Never run the retraining schedule here (leave it to `promptbot worker`).",
    ),
    shard_count: int | None = typer.Option(
        None,
        "--shard-count",
        min=1,
        help="Total gateway shards across all processes (default: Discord's recommendation).",
    ),
    shard_ids: str | None = typer.Option(
        None,
        "--shard-ids",
        help="Comma-separated shard ids this process runs, e.g. 0,1 (needs --shard-count).",
    ),
) -> None:
    """Start the Discord bot (token from DISCORD_TOKEN) and the retraining schedule."""
    from bot.discord_endpoints import EndpointError, parse_endpoints

    shards = parse_shard_ids(shard_ids, shard_count)
    settings = load_settings()
    token = settings.discord_token.get_secret_value().strip() if settings.discord_token else ""
    if not token:
        fail(
            "DISCORD_TOKEN is not set: copy the bot token from the Discord Developer Portal "
            "(Bot → Reset Token) into the DISCORD_TOKEN environment variable."
        )
    try:
        parse_endpoints(settings.discord_api_url, settings.discord_gateway_url)
    except EndpointError as exc:
        fail(str(exc))
    db = open_database(settings)

    import asyncio  # the heavy imports wait until the cheap checks have passed

    import aiohttp
    import discord

    from bot.client import run_bot
    from bot.discord_endpoints import apply_endpoints

    apply_endpoints(settings.discord_api_url, settings.discord_gateway_url)
    configure_logging()
    try:
        asyncio.run(
            run_bot(
                settings,
                db,
                token,
                run_scheduler=not no_scheduler,
                shard_count=shard_count,
                shard_ids=shards,
            )
        )
    except discord.LoginFailure:
        fail(
            "Discord rejected the token in DISCORD_TOKEN (401 Unauthorized); reset it in the "
            "Developer Portal and set the new one."
        )
    except discord.PrivilegedIntentsRequired:
        fail(
            "Discord refused the gateway intents; promptbot needs no privileged intents, so "
            "check the application's settings."
        )
    except discord.HTTPException as exc:
        fail(f"Discord answered {exc.status} {exc.text or ''}".rstrip())
    except discord.DiscordException as exc:
        fail(f"Discord connection failed: {exc}")
    except (aiohttp.ClientError, OSError) as exc:
        fail(f"cannot reach Discord: {exc}")
    finally:
        db.dispose()
