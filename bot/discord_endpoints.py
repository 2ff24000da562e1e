"""Where the bot finds Discord: the real API, or a compatible REST proxy / gateway.

discord.py reads ``discord.http.Route.BASE`` each time it builds a request (interaction
follow-ups included) and ``DiscordWebSocket.DEFAULT_GATEWAY`` each time it connects without
a resume URL, so both are set once, before login, and stay set for the process. With neither
``PROMPTBOT_DISCORD_API_URL`` nor ``PROMPTBOT_DISCORD_GATEWAY_URL`` set nothing changes and
the bot talks to Discord itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import yarl

REST_SCHEMES = ("http", "https")
GATEWAY_SCHEMES = ("ws", "wss")


class EndpointError(ValueError):
    """A configured URL that cannot be a Discord endpoint; the message names the setting."""


@dataclass(frozen=True)
class Endpoints:
    api_url: str | None
    gateway_url: yarl.URL | None


def _checked(value: str | None, schemes: tuple[str, ...], setting: str) -> yarl.URL | None:
    if value is None or not value.strip():
        return None
    url = yarl.URL(value.strip())
    if url.scheme not in schemes or not url.host:
        raise EndpointError(f"{setting}={value!r} is not a {'/'.join(schemes)}:// URL with a host")
    return url


def parse_endpoints(api_url: str | None, gateway_url: str | None) -> Endpoints:
    """Validate both URLs up front, so a typo fails at start-up with the setting's name."""
    api = _checked(api_url, REST_SCHEMES, "PROMPTBOT_DISCORD_API_URL")
    gateway = _checked(gateway_url, GATEWAY_SCHEMES, "PROMPTBOT_DISCORD_GATEWAY_URL")
    return Endpoints(str(api).rstrip("/") if api else None, gateway)


def apply_endpoints(api_url: str | None, gateway_url: str | None) -> Endpoints:
    """Point discord.py at the given REST base and gateway (unset ones stay Discord's).

    Returns the previous values, so callers that must undo it (tests) can restore them.
    """
    import discord.gateway
    import discord.http

    wanted = parse_endpoints(api_url, gateway_url)
    previous = Endpoints(discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    if wanted.api_url:
        discord.http.Route.BASE = wanted.api_url
    if wanted.gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = wanted.gateway_url
    return previous


def restore_endpoints(previous: Endpoints) -> None:
    import discord.gateway
    import discord.http

    if previous.api_url is not None:
        discord.http.Route.BASE = previous.api_url
    if previous.gateway_url is not None:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = previous.gateway_url
