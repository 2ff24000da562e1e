"""Pointing discord.py at another API and gateway: applied, restored, and refused when a URL
has the wrong scheme (the message names the setting to fix)."""

from __future__ import annotations

import discord.gateway
import discord.http
import pytest

from bot.discord_endpoints import EndpointError, apply_endpoints, restore_endpoints


def test_endpoints_are_applied_and_validated() -> None:
    previous = apply_endpoints("http://127.0.0.1:9/api/v10/", "ws://127.0.0.1:9/gateway")
    try:
        assert discord.http.Route.BASE == "http://127.0.0.1:9/api/v10"
        assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == "ws://127.0.0.1:9/gateway"
    finally:
        restore_endpoints(previous)
    assert discord.http.Route.BASE == "https://discord.com/api/v10"
    assert apply_endpoints(None, "") == previous  # unset: Discord itself, nothing changed
    with pytest.raises(EndpointError, match="PROMPTBOT_DISCORD_GATEWAY_URL"):
        apply_endpoints(None, "http://127.0.0.1/gateway")
    with pytest.raises(EndpointError, match="PROMPTBOT_DISCORD_API_URL"):
        apply_endpoints("127.0.0.1:8080/api", None)
