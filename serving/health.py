"""The operator endpoint of a serving process: ``/metrics`` for Prometheus, ``/healthz`` for
whatever restarts or routes to the bot (Docker, Kubernetes, a load balancer's probe).

It is an aiohttp server inside the bot's own event loop rather than prometheus_client's
threaded server: aiohttp is already a dependency (discord.py runs on it), one server answers
both paths, and the health answer reads the bot's state directly without locks. Rendering
``/metrics`` reads live state (the database, for retraining cycles), so it runs in a worker
thread and never stalls the gateway heartbeat.

``/healthz`` answers 200 ``ok`` only when the ``problems`` callable returns nothing (the bot
is logged in and a model is loaded), else 503 with one problem per line, so a probe can hold
traffic until the first `/prompt` would be answered. No metric carries a per-user label, so
the port may be scraped from another host; it binds all interfaces by default for that.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from serving.metrics import ServingMetrics

DEFAULT_HOST = "0.0.0.0"  # scraped from the monitoring host; no metric is private


class MetricsServer:
    """``/metrics`` and ``/healthz`` on ``host:port`` (port 0: any free port, see ``port``)."""

    def __init__(
        self,
        metrics: ServingMetrics,
        problems: Callable[[], Sequence[str]],
        port: int,
        host: str = DEFAULT_HOST,
    ) -> None:
        self.metrics = metrics
        self.problems = problems
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> MetricsServer:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, _request: web.Request) -> web.Response:
        body = await asyncio.to_thread(self.metrics.exposition)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, _request: web.Request) -> web.Response:
        problems = list(self.problems())
        if problems:
            return web.Response(status=503, text="\n".join(problems) + "\n")
        return web.Response(status=200, text="ok\n")
