"""`promptbot run`: the Discord bot, with the retraining schedule in the same process.

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


def run(
    no_scheduler: bool = typer.Option(
        False,
        "--no-scheduler",
        help="Do not run the retraining schedule here (e.g. when `promptbot worker` runs it).",
    ),
) -> None:
    """Start the Discord bot (token from DISCORD_TOKEN) and the retraining schedule."""
    from bot.discord_endpoints import EndpointError, parse_endpoints

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
        asyncio.run(run_bot(settings, db, token, run_scheduler=not no_scheduler))
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
