"""One retraining cycle: votes -> pairs -> candidate -> offline gate -> experiment.

Crash-safety: only the holder of the ``retrain`` lease runs a cycle, so at most one runs across
every process sharing the database; a holder that dies lets the lease expire. On taking the
lease, runs left ``running`` by a dead holder are marked failed and their temporary files
removed. Models are trained in a separate process (:class:`SubprocessRunner`) into a temporary
directory and published by rename; the version row is written only after that, so the
champion keeps serving and the database stays consistent wherever a cycle is killed.

The candidate is made by :func:`retraining.candidates.make_candidate`, like every other
version, and judged by :func:`retraining.gate.compare` against the champion, with the
held-out votes as evidence.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from retraining.candidates import (
    CandidateResult,
    Judge,
    Judgement,
    TrainingRunner,
    TrainingSet,
    in_process_runner,
    make_candidate,
    record_dataset,
    to_examples,
)
from retraining.corpus_pairs import CorpusPairBuilder, Pair
from retraining.gate import compare, vote_slice_metrics
from retraining.promotion import champion_metrics
from retraining.stop_points import stop_point
from retraining.train_worker import SubprocessRunner
from retraining.trainer import PRESETS, TrainConfig
from retraining.vote_pairs import (
    RULES_VERSION,
    InfluenceRule,
    VoteJudgment,
    VotePairs,
    build_vote_pairs,
)
from retrieval.corpus_view import CorpusPrompt, load_corpus_from_db
from retrieval.golden_set import GoldenMetrics, GoldenSet, load_golden_set
from retrieval.model_registry import ModelRef, resolve_model
from retrieval.vocabulary import default_vocabulary
from storage.database import Database, Session, utcnow
from storage.models import ExperimentMode, TrainingRunStatus
from storage.repositories.datasets import last_vote_id_trained
from storage.repositories.experiments import running_experiment, start_experiment
from storage.repositories.guild_settings import non_contributing_guilds
from storage.repositories.leases import current_lease, release_lease, try_acquire_lease
from storage.repositories.model_versions import get_champion
from storage.repositories.prompts import EVERY_GUILD
from storage.repositories.training_runs import (
    fail_abandoned_runs,
    finish_run,
    start_run,
    update_run,
)
from storage.repositories.votes import VoteView, list_votes
from storage.settings import Settings

log = logging.getLogger(__name__)
LEASE = "retrain"


class CycleOutcome(StrEnum):
    """How a cycle ended, as reported (the training run row says succeeded for the middle two)."""

    SKIPPED = "skipped"
    REJECTED = "rejected"  # a version was trained and failed the gate
    CANDIDATE = "candidate"  # a version passed the gate; its experiment started
    FAILED = "failed"


@dataclass
class CycleReport:
    run_id: int | None
    status: CycleOutcome
    reason: str
    candidate_version: str | None = None
    experiment_id: int | None = None
    counts: dict[str, Any] = field(default_factory=dict)
    gate: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class CyclePairs:
    """What a cycle trains on: vote pairs (repeated) plus replayed corpus pairs."""

    votes: VotePairs
    replay: list[Pair]
    repeats: int
    counts: dict[str, Any]

    @property
    def recorded(self) -> list[Pair]:
        """The distinct pairs, as stored in the dataset."""
        return self.votes.train_pairs + self.replay

    @property
    def training(self) -> list[Pair]:
        return self.votes.train_pairs * self.repeats + self.replay


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


def influence_rule(settings: Settings) -> InfluenceRule:
    return InfluenceRule(
        enabled=settings.influence_rule,
        max_user_share=settings.influence_max_user_share,
        min_agreeing_users=settings.influence_min_agreeing_users,
        min_voters=settings.influence_min_voters,
        heldout_user_fraction=settings.heldout_user_fraction,
    )


def held_out_vote_judge(
    db: Database,
    settings: Settings,
    prompts: Sequence[CorpusPrompt],
    judgments: Sequence[VoteJudgment],
    golden: GoldenSet,
) -> Judge:
    """The offline gate as a judge: the candidate against the champion, golden set and votes."""

    def judge(candidate: ModelRef, candidate_golden: GoldenMetrics) -> Judgement:
        champion_id, champion_golden = champion_metrics(db, settings, golden)
        champion = resolve_model(champion_id, db)
        champion_votes = vote_slice_metrics(champion, prompts, judgments, settings.cache_dir)
        candidate_votes = vote_slice_metrics(candidate, prompts, judgments, settings.cache_dir)
        result = compare(
            champion_golden,
            candidate_golden,
            settings.gate_tolerance,
            champion_votes,
            candidate_votes,
        )
        return Judgement(result, candidate_votes)

    return judge


def contributed_server_prompts(db: Database, opted_out: frozenset[str]) -> list[CorpusPrompt]:
    """Servers' own prompts whose votes may train the shared model (vote_pairs rule 12)."""
    return [
        p
        for p in load_corpus_from_db(db, EVERY_GUILD)
        if p.guild_id is not None and p.guild_id not in opted_out
    ]


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
        runner: TrainingRunner | None = None,
    ) -> None:
        """``in_process`` trains in this process (simulator, tests); otherwise in a worker
        process, handed to ``on_train_process`` once started. ``runner`` overrides both."""
        self.db = db
        self.settings = settings
        self.clock = clock
        self.holder = holder or default_holder()
        self.config = train_config or PRESETS["default"]
        self.golden = golden
        self.progress = progress
        self.runner = runner or (
            in_process_runner()
            if in_process
            else SubprocessRunner(settings.train_threads, on_started=on_train_process)
        )

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
            recovered = fail_abandoned_runs(session, self.clock())
        models_dir = self.settings.models_dir
        if models_dir.is_dir():
            for leftover in models_dir.glob(".v*"):
                shutil.rmtree(leftover, ignore_errors=True)
        return recovered

    def _start_run(self, trigger: str) -> int:
        with self.db.session() as session:
            return start_run(session, trigger, self.clock())

    def _update_run(self, run_id: int, **fields: Any) -> None:
        with self.db.session() as session:
            update_run(session, run_id, **fields)

    def _finish_run(
        self, run_id: int, status: TrainingRunStatus, reason: str, **fields: Any
    ) -> None:
        with self.db.session() as session:
            finish_run(session, run_id, status, reason, self.clock(), **fields)

    def _skip(self, run_id: int, reason: str, counts: dict[str, Any], **fields: Any) -> CycleReport:
        self._finish_run(run_id, TrainingRunStatus.SKIPPED, reason, pair_counts=counts, **fields)
        return CycleReport(run_id, CycleOutcome.SKIPPED, reason, counts=counts)

    # -- the cycle -------------------------------------------------------------------------
    def run(self, trigger: str = "schedule") -> CycleReport:
        if not self._acquire():
            return self._skip_while_another_runs(trigger)
        try:
            recovered = self._recover_abandoned()
            if recovered:
                log.warning("marked %d abandoned training run(s) failed", recovered)
            run_id = self._start_run(trigger)
            try:
                return self._run_locked(run_id)
            except Exception as exc:
                log.exception("retraining cycle failed")
                return self._fail(run_id, exc)
        finally:
            self._release()

    def _skip_while_another_runs(self, trigger: str) -> CycleReport:
        with self.db.session() as session:
            lease = current_lease(session, LEASE)
            holder = f"{lease.holder} until {lease.expires_at:%Y-%m-%d %H:%M}" if lease else "?"
        run_id = self._start_run(trigger)
        return self._skip(run_id, f"another cycle is running ({holder})", {})

    def _fail(self, run_id: int, exc: Exception) -> CycleReport:
        reason = f"{type(exc).__name__}: {exc}"
        error = traceback.format_exc()[-4000:]
        self._finish_run(run_id, TrainingRunStatus.FAILED, reason, error=error)
        return CycleReport(run_id, CycleOutcome.FAILED, reason)

    def _run_locked(self, run_id: int) -> CycleReport:
        started = time.perf_counter()
        reason, counts, all_votes = self._new_votes()
        if reason:
            return self._skip(run_id, reason, counts)
        self.progress("building training pairs")
        prompts = load_corpus_from_db(self.db)
        golden = self.golden or load_golden_set(prompts)
        with self.db.session() as session:
            opted_out = frozenset(non_contributing_guilds(session))
        server_prompts = contributed_server_prompts(self.db, opted_out)
        pairs = self._build_pairs(
            all_votes, prompts, server_prompts, opted_out, golden, counts["new_votes"]
        )
        dataset_id = self._record_dataset(pairs)
        stop_point("pairs")
        timings = {"pairs": time.perf_counter() - started}
        if not pairs.votes.train_pairs:
            reason = "the votes gave no usable training pair"
            return self._skip(run_id, reason, pairs.counts, dataset_id=dataset_id)
        started_experiment: list[int] = []
        voted_on = [*prompts, *server_prompts]  # the texts every vote pair may name
        result = self._train_and_judge(
            run_id, pairs, dataset_id, voted_on, golden, started_experiment.append
        )
        stop_point("registered")
        experiment_id = started_experiment[0] if started_experiment else None
        timings.update(result.timings, total=time.perf_counter() - started)
        return self._succeed(run_id, result, experiment_id, pairs.counts, timings)

    def _new_votes(self) -> tuple[str | None, dict[str, Any], list[VoteView]]:
        """(why not to train now, or None; ``new_votes`` since the last cycle; every vote)."""
        with self.db.session() as session:
            if (experiment := running_experiment(session)) is not None:
                return f"experiment {experiment.id} is still running", {}, []
            new_votes = list_votes(session, after_id=last_vote_id_trained(session))
            all_votes = list_votes(session, include_removed=True)
        fresh = sum(1 for v in new_votes if not v.removed)
        if fresh < self.settings.retrain_min_votes:
            reason = (
                f"only {fresh} new vote(s) since the last cycle "
                f"(PROMPTBOT_RETRAIN_MIN_VOTES={self.settings.retrain_min_votes})"
            )
            return reason, {"new_votes": fresh}, all_votes
        return None, {"new_votes": fresh}, all_votes

    def _build_pairs(
        self,
        votes: list[VoteView],
        prompts: list[CorpusPrompt],
        server_prompts: list[CorpusPrompt],
        opted_out: frozenset[str],
        golden: GoldenSet,
        fresh: int,
    ) -> CyclePairs:
        builder = CorpusPairBuilder(
            default_vocabulary(), seed=self.config.seed, per_prompt=self.config.pairs_per_prompt
        )
        forbidden = golden.split.test_anchors(golden.queries)
        vote_pairs = build_vote_pairs(
            votes,
            prompts,
            builder,
            self.settings.votes_daily_cap,
            forbidden_anchors=forbidden,
            excluded_guilds=opted_out,
            influence=influence_rule(self.settings),
            server_prompts=server_prompts,
        )
        replay = self._replay_pairs(
            builder, prompts, golden, forbidden, len(vote_pairs.train_pairs)
        )
        repeats = vote_pair_repeats(
            len(vote_pairs.train_pairs), len(replay), self.settings.vote_pair_max_repeats
        )
        pairs = CyclePairs(vote_pairs, replay, repeats, {})
        pairs.counts = {
            **vote_pairs.counts,
            "replay_pairs": len(replay),
            "new_votes": fresh,
            "total_pairs": len(pairs.recorded),
            "vote_pair_repeats": repeats,
            "training_examples": len(pairs.training),
        }
        return pairs

    def _record_dataset(self, pairs: CyclePairs) -> int:
        rules = {
            "version": RULES_VERSION,
            "daily_cap": self.settings.votes_daily_cap,
            "replay_ratio": self.settings.replay_ratio,
            "vote_pair_max_repeats": self.settings.vote_pair_max_repeats,
            "influence": influence_rule(self.settings).to_dict(),
        }
        votes = pairs.votes
        dataset_id, _ = record_dataset(
            self.db, pairs.recorded, self.clock(), votes.vote_id_min, votes.vote_id_max, rules
        )
        return dataset_id

    def _replay_pairs(
        self,
        builder: CorpusPairBuilder,
        prompts: list[CorpusPrompt],
        golden: GoldenSet,
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

    def _train_and_judge(
        self,
        run_id: int,
        pairs: CyclePairs,
        dataset_id: int,
        prompts: list[CorpusPrompt],
        golden: GoldenSet,
        on_experiment: Callable[[int], None],
    ) -> CandidateResult:
        start_ref = "champion" if self.settings.retrain_from == "champion" else "base"
        start = resolve_model(start_ref, self.db)
        self._update_run(
            run_id,
            dataset_id=dataset_id,
            pair_counts=pairs.counts,
            start_version_id=start.version_id,
        )
        training = TrainingSet(to_examples(pairs.training, prompts), dataset_id, pairs.counts)
        judge = held_out_vote_judge(self.db, self.settings, prompts, pairs.votes.heldout, golden)
        return make_candidate(
            self.db,
            self.settings,
            training,
            start,
            golden,
            self.config,
            label=f"retrained from {start.label} on votes",
            runner=self.runner,
            judge=judge,
            clock=self.clock,
            progress=self.progress,
            on_registered=lambda session, result: on_experiment(
                self._start_experiment(session, result.version_id)
            ),
        )

    def _start_experiment(self, session: Session, version_id: str) -> int:
        """Runs in the transaction that registers the candidate: both happen, or neither."""
        current = get_champion(session)
        assert current is not None
        return start_experiment(
            session,
            current.id,
            version_id,
            self.settings.experiment_share,
            self.clock(),
            mode=ExperimentMode(self.settings.experiment_mode),
        ).id

    def _succeed(
        self,
        run_id: int,
        result: CandidateResult,
        experiment_id: int | None,
        counts: dict[str, Any],
        timings: dict[str, float],
    ) -> CycleReport:
        assert result.gate is not None  # the cycle always judges
        outcome = CycleOutcome.CANDIDATE if result.passed else CycleOutcome.REJECTED
        self._finish_run(
            run_id,
            TrainingRunStatus.SUCCEEDED,
            f"{outcome}: {result.gate.reason}",
            candidate_version_id=result.version_id,
            timings=timings,
        )
        return CycleReport(
            run_id,
            outcome,
            result.gate.reason,
            result.version_id,
            experiment_id,
            counts,
            result.gate.details,
            timings,
        )
