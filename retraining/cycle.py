"""One retraining cycle: votes -> pairs -> candidate -> offline gate -> experiment.

Crash-safety: only the holder of the ``retrain`` lease runs a cycle, so at most one runs across
every process sharing the database; a holder that dies lets the lease expire. On taking the
lease, runs left ``running`` by a dead holder are marked failed and their temporary files
removed. Models are trained in a separate process into a temporary directory and published by
rename; the version row is written only after that, so the champion keeps serving and the
database stays consistent wherever a cycle is killed.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from retraining.candidates import reserve_version_dir, to_examples
from retraining.corpus_pairs import CorpusPairBuilder, Pair
from retraining.experiments import running_experiment, start_experiment
from retraining.gate import gate, vote_slice_metrics
from retraining.promotion import champion_metrics
from retraining.trainer import PRESETS, TrainConfig, train_candidate
from retraining.vote_pairs import RULES_VERSION, build_vote_pairs
from retrieval.corpus_view import load_corpus_from_db
from retrieval.golden_set import GoldenSet, evaluate_model, load_golden_set
from retrieval.int8_check import serving_backend
from retrieval.model_registry import ModelRef, base_model_path, resolve_model
from retrieval.vocabulary import default_vocabulary
from storage.database import Database, utcnow
from storage.models import ModelStatus, TrainingRun
from storage.repositories.datasets import last_vote_id_trained, save_dataset
from storage.repositories.leases import current_lease, release_lease, try_acquire_lease
from storage.repositories.model_versions import get_champion, register_version
from storage.repositories.votes import list_votes
from storage.settings import Settings

log = logging.getLogger(__name__)
LEASE = "retrain"


@dataclass
class CycleReport:
    run_id: int | None
    status: str  # skipped / rejected / candidate / failed
    reason: str
    candidate_version: str | None = None
    experiment_id: int | None = None
    counts: dict[str, Any] = field(default_factory=dict)
    gate: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def vote_pair_repeats(vote_pairs: int, replay_pairs: int, max_repeats: int) -> int:
    """How often each vote pair is seen per epoch: enough to match the replay, within a cap.

    The majority rule leaves about one pair per (query, prompt) users voted on - in the
    simulator ~130 vote pairs from 1,000 votes next to 1,000 replayed corpus pairs. Votes are
    the only evidence of what users ask, so a cycle trains on votes and replay in about equal
    measure. Measured on the simulator's first unseen-prompt dataset, the expected 👍 rate of
    the candidate (base 0.486): repeats 1 -> 0.537, 4 -> 0.561, 8 -> 0.598.
    """
    if vote_pairs <= 0:
        return 1
    return max(1, min(max_repeats, round(replay_pairs / vote_pairs)))


def default_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class RetrainingCycle:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Callable[[], datetime] = utcnow,
        holder: str | None = None,
        in_process: bool = False,
        train_config: TrainConfig | None = None,
        golden: GoldenSet | None = None,
        progress: Callable[[str], None] = lambda _msg: None,
        on_train_process: Callable[[Any], None] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.holder = holder or default_holder()
        self.in_process = in_process
        self.config = train_config or PRESETS["default"]
        self.golden = golden
        self.progress = progress
        self.on_train_process = on_train_process

    # -- lease and bookkeeping -------------------------------------------------------------
    def _acquire(self) -> bool:
        ttl = timedelta(seconds=self.settings.lease_seconds)
        with self.db.session() as session:
            return try_acquire_lease(session, LEASE, self.holder, ttl, self.clock())

    def _release(self) -> None:
        with self.db.session() as session:
            release_lease(session, LEASE, self.holder)

    def _recover_abandoned(self) -> int:
        """Runs left 'running' by a holder that died: mark failed, clear temporary files."""
        with self.db.session() as session:
            stale = list(
                session.scalars(select(TrainingRun).where(TrainingRun.status == "running"))
            )
            for run in stale:
                run.status, run.finished_at = "failed", self.clock()
                run.error = run.error or "abandoned: the process running it died"
        models_dir = self.settings.models_dir
        if models_dir.is_dir():
            for leftover in models_dir.glob(".v*"):
                shutil.rmtree(leftover, ignore_errors=True)
        return len(stale)

    def _start_run(self, trigger: str) -> int:
        with self.db.session() as session:
            run = TrainingRun(status="running", trigger=trigger, started_at=self.clock())
            session.add(run)
            session.flush()
            return run.id

    def _finish_run(self, run_id: int, status: str, reason: str, **fields: Any) -> None:
        with self.db.session() as session:
            run = session.get(TrainingRun, run_id)
            assert run is not None
            run.status, run.reason, run.finished_at = status, reason, self.clock()
            for key, value in fields.items():
                setattr(run, key, value)

    # -- the cycle -------------------------------------------------------------------------
    def run(self, trigger: str = "schedule") -> CycleReport:
        if not self._acquire():
            with self.db.session() as session:
                lease = current_lease(session, LEASE)
                holder = f"{lease.holder} until {lease.expires_at:%Y-%m-%d %H:%M}" if lease else "?"
            run_id = self._start_run(trigger)
            reason = f"another cycle is running ({holder})"
            self._finish_run(run_id, "skipped", reason)
            return CycleReport(run_id, "skipped", reason)
        try:
            recovered = self._recover_abandoned()
            if recovered:
                log.warning("marked %d abandoned training run(s) failed", recovered)
            run_id = self._start_run(trigger)
            try:
                report = self._run_locked(run_id)
            except Exception as exc:
                log.exception("retraining cycle failed")
                self._finish_run(
                    run_id,
                    "failed",
                    f"{type(exc).__name__}: {exc}",
                    error=traceback.format_exc()[-4000:],
                )
                return CycleReport(run_id, "failed", f"{type(exc).__name__}: {exc}")
            return report
        finally:
            self._release()

    def _run_locked(self, run_id: int) -> CycleReport:
        timings: dict[str, float] = {}
        started = time.perf_counter()
        with self.db.session() as session:
            if (experiment := running_experiment(session)) is not None:
                reason = f"experiment {experiment.id} is still running"
                self._finish_run(run_id, "skipped", reason)
                return CycleReport(run_id, "skipped", reason)
            last_trained = last_vote_id_trained(session)
            new_votes = list_votes(session, after_id=last_trained)
            all_votes = list_votes(session, include_removed=True)
        fresh = sum(1 for v in new_votes if not v.removed)
        if fresh < self.settings.retrain_min_votes:
            reason = (
                f"only {fresh} new vote(s) since the last cycle "
                f"(PROMPTBOT_RETRAIN_MIN_VOTES={self.settings.retrain_min_votes})"
            )
            self._finish_run(run_id, "skipped", reason, pair_counts={"new_votes": fresh})
            return CycleReport(run_id, "skipped", reason, counts={"new_votes": fresh})

        self.progress("building training pairs")
        prompts = load_corpus_from_db(self.db)
        golden = self.golden or load_golden_set(prompts)
        builder = CorpusPairBuilder(
            default_vocabulary(), seed=self.config.seed, per_prompt=self.config.pairs_per_prompt
        )
        forbidden = golden.split.test_anchors(golden.queries)
        votes = build_vote_pairs(
            all_votes, prompts, builder, self.settings.votes_daily_cap, forbidden_anchors=forbidden
        )
        replay = self._replay_pairs(builder, prompts, golden, forbidden, len(votes.train_pairs))
        pairs = votes.train_pairs + replay
        repeats = vote_pair_repeats(
            len(votes.train_pairs), len(replay), self.settings.vote_pair_max_repeats
        )
        training_pairs = votes.train_pairs * repeats + replay
        counts = {
            **votes.counts,
            "replay_pairs": len(replay),
            "new_votes": fresh,
            "total_pairs": len(pairs),
            "vote_pair_repeats": repeats,
            "training_examples": len(training_pairs),
        }
        with self.db.session() as session:
            dataset = save_dataset(
                session,
                ((p.anchor, p.positive_id, p.negative_id, p.source) for p in pairs),
                self.clock(),
                votes.vote_id_min,
                votes.vote_id_max,
                rules={
                    "version": RULES_VERSION,
                    "daily_cap": self.settings.votes_daily_cap,
                    "replay_ratio": self.settings.replay_ratio,
                    "vote_pair_max_repeats": self.settings.vote_pair_max_repeats,
                },
            )
            dataset_id = dataset.id
        timings["pairs"] = time.perf_counter() - started
        if not votes.train_pairs:
            reason = "the votes gave no usable training pair"
            self._finish_run(run_id, "skipped", reason, dataset_id=dataset_id, pair_counts=counts)
            return CycleReport(run_id, "skipped", reason, counts=counts)

        start_ref = "champion" if self.settings.retrain_from == "champion" else "base"
        start = resolve_model(start_ref, self.db)
        version_id, out_dir = reserve_version_dir(self.db, self.settings)
        self._update_run(
            run_id, dataset_id=dataset_id, pair_counts=counts, start_version_id=start.version_id
        )
        self.progress(
            f"training {version_id} on {len(pairs)} pairs "
            f"(vote pairs x{repeats}: {len(training_pairs)} examples)"
        )
        t0 = time.perf_counter()
        train_info = self._train(start.path, training_pairs, prompts, out_dir)
        timings["train"] = time.perf_counter() - t0

        self.progress("evaluating candidate and champion")
        t0 = time.perf_counter()
        candidate = ModelRef(version_id, out_dir)
        candidate_golden = evaluate_model(candidate, golden, self.settings.cache_dir)
        champion_id, champion_golden = champion_metrics(self.db, self.settings, golden)
        champion = resolve_model(champion_id, self.db)
        champion_votes = vote_slice_metrics(
            champion, prompts, votes.heldout, self.settings.cache_dir
        )
        candidate_votes = vote_slice_metrics(
            candidate, prompts, votes.heldout, self.settings.cache_dir
        )
        decision = gate(
            champion_golden,
            candidate_golden,
            champion_votes,
            candidate_votes,
            self.settings.gate_tolerance,
        )
        timings["evaluate"] = time.perf_counter() - t0
        if decision.passed:  # measure int8 now, so a bot serving this version only reads it
            t0 = time.perf_counter()
            serving_backend(
                candidate, self.settings.cache_dir, self.settings.backend, self.settings.int8
            )
            timings["int8_check"] = time.perf_counter() - t0
        metrics = {**candidate_golden, "vote_slice": candidate_votes, "gate": decision.details}
        status = ModelStatus.CANDIDATE if decision.passed else ModelStatus.REJECTED
        experiment_id = None
        with self.db.session() as session:
            register_version(
                session,
                version_id,
                str(out_dir),
                status,
                self.clock(),
                label=f"retrained from {start.label} on votes",
                parent_id=start.version_id,
                hyperparams={**self.config.to_dict(), **train_info, "pairs": counts},
                metrics=metrics,
                dataset_id=dataset_id,
                status_reason=("passed gate: " if decision.passed else "gate: ") + decision.reason,
            )
            if decision.passed:
                current = get_champion(session)
                assert current is not None
                experiment_id = start_experiment(
                    session,
                    current.id,
                    version_id,
                    self.settings.experiment_share,
                    self.clock(),
                    mode=self.settings.experiment_mode,
                ).id
        timings["total"] = time.perf_counter() - started
        outcome = "candidate" if decision.passed else "rejected"
        self._finish_run(
            run_id,
            "succeeded",
            f"{outcome}: {decision.reason}",
            candidate_version_id=version_id,
            timings=timings,
        )
        return CycleReport(
            run_id,
            outcome,
            decision.reason,
            version_id,
            experiment_id,
            counts,
            decision.details,
            timings,
        )

    def _update_run(self, run_id: int, **fields: Any) -> None:
        with self.db.session() as session:
            run = session.get(TrainingRun, run_id)
            assert run is not None
            for key, value in fields.items():
                setattr(run, key, value)

    def _replay_pairs(
        self,
        builder: CorpusPairBuilder,
        prompts,
        golden: GoldenSet,  # type: ignore[no-untyped-def]
        forbidden: frozenset[str],
        vote_pairs: int,
    ) -> list[Pair]:
        """Corpus pairs mixed back in so the model does not forget what it knew."""
        want = max(round(vote_pairs * self.settings.replay_ratio), self.settings.replay_min_pairs)
        if want <= 0:
            return []
        corpus = builder.build(prompts, golden.split.heldout_prompts, forbidden)
        builder.rng.shuffle(corpus)
        return [Pair(p.anchor, p.positive_id, "replay") for p in corpus[:want]]

    def _train(self, start_dir: Path, pairs: list[Pair], prompts, out_dir: Path) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        config = self.config
        examples = to_examples(pairs, prompts)
        if self.in_process:
            outcome = train_candidate(start_dir, base_model_path(), examples, config, out_dir)
            return {"train_seconds": round(outcome.seconds, 1), "steps": outcome.steps}
        from retraining.train_worker import run_in_subprocess, write_spec

        with tempfile.TemporaryDirectory(prefix="promptbot-train-") as tmp:
            spec = Path(tmp) / "spec.json"
            write_spec(spec, start_dir, base_model_path(), out_dir, config, examples)
            result = run_in_subprocess(
                spec, self.settings.train_threads, on_started=self.on_train_process
            )
        return {"train_seconds": round(result["seconds"], 1), "steps": result["steps"]}
