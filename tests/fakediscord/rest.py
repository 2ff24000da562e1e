"""The REST side of the fake: routing, auth, body parsing, request logging,
rate-limit headers and injected failures, in the formats discord.py expects.

Details of the real API that discord.py depends on and that are reproduced:

* JSON bodies are only parsed when ``Content-Type`` is exactly ``application/json``
  (no ``charset``), so responses are built by hand rather than ``web.json_response``;
* a 429 counts as a rate limit only with a ``Via`` header; ``retry_after`` and
  ``global`` come from the JSON body;
* ``X-RateLimit-*`` headers accompany every response (a generous static bucket,
  so the client never pre-emptively sleeps);
* errors look like ``{"message": ..., "code": ...}``;
* emoji and other path parameters arrive percent-encoded and are decoded here.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import re
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from aiohttp import BodyPartReader, web

from .records import FailureRule, RequestRecord
from .validation import ApiError

if TYPE_CHECKING:
    from .server import FakeDiscord

log = logging.getLogger(__name__)

Result = tuple[int, Any]  # (status, JSON body or None for 204)
Handler = Callable[["Ctx"], Awaitable[Result]]

_STATUS_TEXT = {
    400: (0, "400: Bad Request"),
    401: (0, "401: Unauthorized"),
    403: (50013, "Missing Permissions"),
    404: (0, "404: Not Found"),
    405: (0, "405: Method Not Allowed"),
    500: (0, "500: Internal Server Error"),
    502: (0, "502: Bad Gateway"),
    503: (0, "503: Service Unavailable"),
}


def json_response(status: int, data: Any, headers: dict[str, str] | None = None) -> web.Response:
    """A response whose Content-Type is exactly ``application/json`` (see module doc)."""
    all_headers = dict(headers or {})
    if data is None and status == 204:
        return web.Response(status=204, headers=all_headers)
    all_headers["Content-Type"] = "application/json"
    body = json.dumps(data, ensure_ascii=False).encode()
    return web.Response(status=status, body=body, headers=all_headers)


@dataclass
class Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    handler: Handler
    auth: bool

    @property
    def bucket(self) -> str:
        return hashlib.md5(f"{self.method} {self.template}".encode()).hexdigest()


class RouteTable:
    """Templates like ``/channels/{channel_id}/messages`` matched against the raw
    (still percent-encoded) path; captured parameters are decoded afterwards."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, template: str, handler: Handler, *, auth: bool = True) -> None:
        regex = "".join(
            f"(?P<{part[1:-1]}>[^/]+)" if part.startswith("{") else re.escape(part)
            for part in re.split(r"(\{[a-z_]+\})", template)
            if part
        )
        self.routes.append(Route(method, template, re.compile(f"^{regex}/?$"), handler, auth))

    def match(self, method: str, raw_path: str) -> tuple[Route | None, dict[str, str], bool]:
        """Returns ``(route, params, path_exists)``; ``path_exists`` tells 405 from 404."""
        path_exists = False
        for route in self.routes:
            m = route.pattern.match(raw_path)
            if m is None:
                continue
            path_exists = True
            if route.method == method:
                return route, {k: unquote(v) for k, v in m.groupdict().items()}, True
        return None, {}, path_exists


@dataclass
class Ctx:
    """A parsed request as handlers see it."""

    fake: FakeDiscord
    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    json: Any
    files: list[dict[str, Any]]
    record: RequestRecord

    def snowflake(self, name: str) -> int:
        value = self.params[name]
        if not value.isdigit():
            raise ApiError(
                400,
                50035,
                "Invalid Form Body",
                {
                    name: {
                        "_errors": [
                            {"code": "NUMBER_TYPE_COERCE", "message": "Value is not snowflake."}
                        ]
                    }
                },
            )
        return int(value)

    def query_int(self, name: str, default: int | None = None) -> int | None:
        value = self.query.get(name)
        if value in (None, ""):
            return default
        try:
            return int(value)
        except ValueError:
            raise ApiError(400, 50035, "Invalid Form Body") from None

    @property
    def body(self) -> dict[str, Any]:
        return self.json if isinstance(self.json, dict) else {}


class RestServer:
    """aiohttp handler for everything under ``/api/v{n}``."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.routes = RouteTable()
        self.failures: list[FailureRule] = []

    def fail_next(
        self,
        method: str,
        path_regex: str,
        *,
        status: int = 429,
        retry_after: float = 0.2,
        times: int = 1,
        is_global: bool = False,
        code: int | None = None,
        message: str | None = None,
    ) -> FailureRule:
        rule = FailureRule(
            method=method.upper(),
            path_regex=re.compile(path_regex),
            status=status,
            retry_after=retry_after,
            times=times,
            is_global=is_global,
            code=code,
            message=message,
        )
        self.failures.append(rule)
        return rule

    # ------------------------------------------------------------------ headers

    @staticmethod
    def _ratelimit_headers(
        bucket: str, remaining: int = 49, reset_after: float = 1.0
    ) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": "50",
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": bucket,
        }

    def _failure_response(self, rule: FailureRule, bucket: str) -> web.Response:
        if rule.status == 429:
            headers = self._ratelimit_headers(bucket, remaining=0, reset_after=rule.retry_after)
            headers.update(
                {
                    "Via": "1.1 google",
                    "Retry-After": str(max(1, math.ceil(rule.retry_after))),
                    "X-RateLimit-Scope": "global" if rule.is_global else "user",
                }
            )
            if rule.is_global:
                headers["X-RateLimit-Global"] = "true"
            body: dict[str, Any] = {
                "message": rule.message or "You are being rate limited.",
                "retry_after": rule.retry_after,
                "global": rule.is_global,
            }
            if rule.code is not None:
                body["code"] = rule.code
            return json_response(429, body, headers)
        default_code, default_message = _STATUS_TEXT.get(rule.status, (0, f"{rule.status}: Error"))
        body = {
            "message": rule.message or default_message,
            "code": default_code if rule.code is None else rule.code,
        }
        return json_response(rule.status, body, self._ratelimit_headers(bucket))

    # ------------------------------------------------------------------ body

    @staticmethod
    async def _read_body(request: web.Request) -> tuple[Any, list[dict[str, Any]]]:
        files: list[dict[str, Any]] = []
        if not request.can_read_body:
            return None, files
        if request.content_type.startswith("multipart/"):
            payload: Any = None
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader):
                    continue  # nested multipart: not used by Discord clients
                if part.name == "payload_json":
                    payload = json.loads(await part.text())
                else:
                    data = await part.read()
                    files.append(
                        {
                            "field": part.name,
                            "filename": part.filename,
                            "content_type": part.headers.get("Content-Type"),
                            "size": len(data),
                            "data": bytes(data),
                        }
                    )
            return payload, files
        text = await request.text()
        if not text:
            return None, files
        try:
            return json.loads(text), files
        except ValueError:
            return text, files

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bot ") or not header[4:].strip():
            return False
        return self.fake.token is None or header[4:].strip() == self.fake.token

    # ------------------------------------------------------------------ handler

    async def handle(self, request: web.Request) -> web.StreamResponse:
        fake = self.fake
        raw_path = "/" + request.match_info["tail"]
        # the decoded form is what tests see and what fail_next() regexes match
        path = unquote(raw_path)
        method = request.method.upper()
        payload, files = await self._read_body(request)
        record = RequestRecord(
            method=method,
            path=path,
            json=payload,
            query=dict(request.query),
            files=[{k: v for k, v in f.items() if k != "data"} for f in files],
            at=asyncio.get_running_loop().time(),
        )
        fake.requests.append(record)
        try:
            response = await self._respond(request, record, raw_path, files)
            record.status = response.status
        finally:
            fake.notifier.notify()
        if fake.rest_latency:
            await asyncio.sleep(fake.rest_latency)
        return response

    async def _respond(
        self,
        request: web.Request,
        record: RequestRecord,
        raw_path: str,
        files: list[dict[str, Any]],
    ) -> web.Response:
        route, params, path_exists = self.routes.match(record.method, raw_path)
        bucket = route.bucket if route else hashlib.md5(record.path.encode()).hexdigest()

        for rule in self.failures:
            if rule.matches(record.method, record.path):
                rule.hits.append(record)
                return self._failure_response(rule, bucket)

        if route is None:
            status = 405 if path_exists else 404
            if not path_exists:
                self.fake.unhandled.append(record)
                log.warning("fakediscord: no route for %s %s", record.method, record.path)
            return json_response(status, {"message": _STATUS_TEXT[status][1], "code": 0})

        if route.auth and not self._authorized(request):
            return json_response(401, {"message": "401: Unauthorized", "code": 0})

        ctx = Ctx(
            fake=self.fake,
            method=record.method,
            path=record.path,
            params=params,
            query=dict(request.query),
            json=record.json,
            files=files,
            record=record,
        )
        headers = self._ratelimit_headers(route.bucket)
        try:
            status, data = await route.handler(ctx)
        except ApiError as err:
            return json_response(err.status, err.body(), headers)
        except Exception as exc:  # a bug in the fake: surface it without client retries
            self.fake.errors.append(exc)
            log.error(
                "fakediscord handler crashed for %s %s\n%s",
                record.method,
                record.path,
                traceback.format_exc(),
            )
            # 503 is not retried by discord.py, unlike 500/502/504
            return json_response(
                503, {"message": f"fakediscord internal error: {exc!r}", "code": 0}
            )
        return json_response(status, data, headers)
