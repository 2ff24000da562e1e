"""Loaded search engines by model version, and hot swapping of the champion.

Serving asks the pool for the champion's engine (or an experiment arm's). ``refresh`` re-reads
which version is champion and what the corpus is; when either changed it loads the new engine
(callers run it off the event loop) and swaps it in atomically. If the new champion cannot be
loaded — missing or corrupt files — the pool keeps serving the last good version (or the
base) and records why, which `/model status` shows.

The pool decides *which* version serves and when to swap; it does not make engines. Making
one may export a new version to ONNX (torch) and measure its int8 copy on the golden queries
(evaluation code), neither of which a serving process may import. So the pool is handed an
``EngineFactory`` — in production ``retrieval.engine_factory.ServingEngineFactory``, which
picks the backend (int8 only where its verdict allows) and builds the engine — by whoever
composes the process: the bot, the CLI, the simulator or a test.

Each version's engine is built once, however many requests want it at the same time: the
first caller builds (embedding a large corpus can take minutes), later callers either wait
for that same build or, on the request path, are told it is being built and how far it got
(``EngineBuilding``), while whatever already serves keeps serving (a new champion is swapped
in only once built; users an experiment would send to an arm still being built get the
champion meanwhile, see ``PromptService``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from retrieval.corpus_view import CorpusPrompt, from_row, load_corpus_from_db
from retrieval.embedding_cache import Progress
from retrieval.engine import SearchEngine, corpus_fingerprint_of
from retrieval.model_registry import ModelRef, is_model_dir
from storage.database import Database
from storage.repositories.model_versions import BASE_VERSION_ID, get_champion, get_version
from storage.repositories.prompts import EVERY_GUILD, corpus_versions, get_prompt

log = logging.getLogger(__name__)


class NoCorpusError(RuntimeError):
    pass


class EngineBuilding(RuntimeError):
    """Nothing can answer yet: the first engine is still being built (``percent`` done)."""

    def __init__(self, version_id: str, percent: int) -> None:
        super().__init__(f"the search index for {version_id} is being built ({percent}%)")
        self.version_id = version_id
        self.percent = percent


@dataclass
class _EmbeddingProgress:
    """How far one engine's embedding got; logs every tenth, for the operator."""

    what: str
    done: int = 0
    total: int = 0
    logged_decile: int = -1

    @property
    def percent(self) -> int:
        return 100 * self.done // self.total if self.total else 0

    def record(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        decile = self.percent // 10
        if decile > self.logged_decile:
            self.logged_decile = decile
            log.info(
                "building the search index for %s: %d%% (%d of %d prompts embedded)",
                self.what,
                self.percent,
                done,
                total,
            )


@dataclass
class _Build:
    """One engine being built; everyone else who wants it waits on ``future``."""

    version_id: str
    future: Future[SearchEngine] = field(default_factory=Future)
    progress: _EmbeddingProgress = field(init=False)

    def __post_init__(self) -> None:
        self.progress = _EmbeddingProgress(self.version_id)

    @property
    def percent(self) -> int:
        return self.progress.percent


def _fingerprint(versions: dict[str, str]) -> str:
    return corpus_fingerprint_of(versions)


class EngineFactory(Protocol):
    """Makes the engine that serves ``model`` over ``prompts`` (may be slow: runs off the
    event loop, like every load)."""

    def __call__(
        self,
        model: ModelRef,
        prompts: Sequence[CorpusPrompt],
        progress: Progress | None = None,
    ) -> SearchEngine: ...


@dataclass(frozen=True)
class ServingState:
    champion_id: str  # what the database says
    serving_id: str  # what is actually answering (differs only after a failed load)
    fallback_reason: str | None
    backend: str = "onnx"  # the encoder answering: onnx (fp32), onnx-int8 or torch


class ModelPool:
    def __init__(self, db: Database, engine_factory: EngineFactory, max_engines: int = 3) -> None:
        self.db = db
        self.engine_factory = engine_factory
        self.max_engines = max_engines
        self._engines: dict[str, SearchEngine] = {}
        self._builds: dict[str, _Build] = {}  # engines being built, by version
        self._lock = threading.RLock()
        self._updating = threading.Lock()
        self._state: ServingState | None = None
        self._last_good: str | None = None

    @property
    def state(self) -> ServingState | None:
        return self._state

    def _artifact(self, version_id: str) -> ModelRef:
        with self.db.session() as session:
            version = get_version(session, version_id)
            if version is None:
                raise LookupError(f"no model version {version_id}")
            path = Path(version.artifact_path)
        if not is_model_dir(path):
            raise FileNotFoundError(f"model files of {version_id} missing at {path}")
        return ModelRef(version_id, path)

    def _build(self, version_id: str, build: _Build) -> SearchEngine:
        prompts = load_corpus_from_db(self.db, EVERY_GUILD)  # each search filters by server
        if not prompts:
            raise NoCorpusError("No prompts are imported yet: run `promptbot init`.")
        model = self._artifact(version_id)
        return self.engine_factory(model, prompts, progress=build.progress.record)

    def engine(self, version_id: str, wait: bool = True) -> SearchEngine:
        """The engine for ``version_id``, building it on first use (thread-safe, built once:
        a caller that finds it being built waits for that build, or with ``wait=False``
        gets ``EngineBuilding`` at once)."""
        with self._lock:
            engine = self._engines.get(version_id)
            if engine is not None:
                return engine
            build = self._builds.get(version_id)
            owner = build is None
            if build is None:
                build = self._builds[version_id] = _Build(version_id)
        if not owner:
            if not wait:
                raise EngineBuilding(version_id, build.percent)
            return build.future.result()
        try:
            engine = self._build(version_id, build)
        except BaseException as exc:
            with self._lock:
                del self._builds[version_id]
            build.future.set_exception(exc)
            raise
        with self._lock:
            self._engines.setdefault(version_id, engine)
            self._evict()
            engine = self._engines.get(version_id, engine)
            del self._builds[version_id]
        build.future.set_result(engine)
        return engine

    def serving_state(self) -> ServingState:
        """What answers now, for the request path: refreshes only when nothing serves yet, and
        raises ``EngineBuilding`` instead of building a second copy of the first engine."""
        state = self._state
        if state is not None:
            return state
        with self._lock:
            builds = list(self._builds.values())
        if builds:
            raise EngineBuilding(builds[0].version_id, builds[0].percent)
        return self.refresh()

    def _evict(self) -> None:
        keep = {self._state.serving_id} if self._state else set()  # called under the lock
        for version_id in list(self._engines):
            if len(self._engines) <= self.max_engines:
                break
            if version_id not in keep:
                del self._engines[version_id]

    def refresh(self) -> ServingState:
        """Re-read champion and corpus; load and swap if needed. Never raises on a bad model."""
        with self.db.session() as session:
            champion = get_champion(session)
            champion_id = champion.id if champion else BASE_VERSION_ID
        self.update_corpus()
        with self._lock:
            current = self._state
        if current and current.champion_id == champion_id and current.serving_id in self._engines:
            return current
        try:
            engine = self.engine(champion_id)
            state = ServingState(champion_id, champion_id, None, engine.backend)
            self._last_good = champion_id
        except NoCorpusError:
            raise
        except Exception as exc:  # keep answering with what worked before
            fallback = self._fallback(champion_id)
            log.error("cannot load champion %s (%s); serving %s", champion_id, exc, fallback)
            state = ServingState(
                champion_id,
                fallback,
                f"champion {champion_id} failed to load ({exc}); serving {fallback}",
                self.engine(fallback).backend,
            )
        with self._lock:
            self._state = state
        return state

    def update_corpus(self) -> int:
        """Bring every loaded engine up to the stored corpus incrementally: only added or
        edited prompts are embedded, removed ones dropped, and each engine is swapped for its
        updated copy. Returns how many prompts changed (0: nothing to do, the usual case).
        Called by each refresh (so other processes' changes arrive within one poll) and
        directly after this process changes a prompt (so its own server sees it at once).
        Searches keep using the engines they hold while the copies are made (a large import
        takes a while to embed); only the swap takes the pool's lock."""
        with self._updating:
            with self.db.session() as session:
                wanted = corpus_versions(session, EVERY_GUILD)
            fingerprint = _fingerprint(wanted)
            with self._lock:
                engines = list(self._engines.items())
            changed = 0
            for version_id, engine in engines:
                if engine.corpus_fingerprint == fingerprint:
                    continue
                have = engine.content_hashes()
                upserted_ids = [i for i, digest in wanted.items() if have.get(i) != digest]
                removed = set(have) - set(wanted)
                progress = _EmbeddingProgress(f"{version_id} (corpus update)")
                updated = engine.with_changes(
                    self._load_prompts(upserted_ids), removed, progress.record
                )
                with self._lock:
                    if self._engines.get(version_id) is engine:
                        self._engines[version_id] = updated
                changed = max(changed, len(upserted_ids) + len(removed))
            return changed

    def _load_prompts(self, prompt_ids: Sequence[str]) -> list[CorpusPrompt]:
        with self.db.session() as session:
            rows = [get_prompt(session, prompt_id) for prompt_id in prompt_ids]
            return [from_row(row) for row in rows if row is not None]

    def _fallback(self, failed_id: str) -> str:
        for candidate in (self._last_good, BASE_VERSION_ID):
            if candidate and candidate != failed_id:
                try:
                    self.engine(candidate)
                    return candidate
                except Exception as exc:
                    log.error("fallback %s failed too: %s", candidate, exc)
        raise RuntimeError("no model version can be loaded")

    def ready(self) -> bool:
        """The serving engine is loaded: a search now will not have to load one first."""
        state = self._state
        return state is not None and state.serving_id in self._engines

    def serving_engine(self) -> SearchEngine:
        return self.engine(self.serving_state().serving_id)
