"""`promptbot simulate`: the whole feedback loop on simulated users and simulated time.

Simulated users ask queries from a judged query file through the same service layer the bot
uses (PromptService: requests, results, votes), react by a click model using the hidden
judgments, and the same retraining cycle, gate and experiment checks run on their votes —
on a database of the simulation's own. The champion is measured each day on a separate judged
query set (``--eval-queries``) that never influences any decision.

``hostile_share`` adds one hostile user who, for every query they ask, 👍 the worst result
shown and 👎 the best (by the hidden judgments), and asks just often enough to cast that
share of all votes. ``influence_rule`` picks retraining.vote_pairs' rule 10 (``cap``, the
default: one voice per user per (query, prompt) and a cap on one user's share), the rule it
replaced (``agree``: two agreeing users, no cap) or none (``off``), so they can be compared on
the same seeds (bench/hostile_user.py).
"""

from __future__ import annotations

import json
import random
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from retraining.click_model import ClickModel
from retraining.cycle import RetrainingCycle
from retraining.experiment_check import check_experiment
from retraining.experiments import CANDIDATE, CHAMPION, Verdict
from retraining.interleaving import AGREED
from retraining.trainer import TrainConfig
from retraining.vote_pairs import TWO_AGREEING_USERS
from retrieval.base_model import ensure_base_model
from retrieval.corpus import SHIPPED_CORPUS, import_prompt_file
from retrieval.corpus_view import load_corpus_from_db
from retrieval.engine_factory import ServingEngineFactory
from retrieval.eval_sets import QUERIES_PATH, JudgedQuery, Split, load_queries, restrict_to
from retrieval.evaluation import dense_ranker, evaluate_ranker
from retrieval.golden_set import GoldenSet
from retrieval.model_registry import resolve_model
from serving.model_pool import ModelPool
from serving.prompt_service import PromptService
from storage import migrations
from storage.database import Database
from storage.models import Arm, ExperimentMode, ModelStatus
from storage.repositories.audit import write_audit
from storage.repositories.experiments import get_experiment, start_experiment
from storage.repositories.model_versions import get_champion, register_version
from storage.repositories.monitoring import arm_votes_between, count_requests_between
from storage.settings import Settings

SIM_START = datetime(2026, 1, 5, 0, 0)
INJECTED = ("bad", "aa", "injected")
HOSTILE_USER = "sim-hostile"  # version ids of candidates put into an experiment directly


# The settings behind each of SimConfig.influence_rule's names.
INFLUENCE_RULES: dict[str, dict[str, Any]] = {
    "cap": {"influence_rule": True},
    "agree": {
        "influence_rule": True,
        "influence_max_user_share": TWO_AGREEING_USERS.max_user_share,
        "influence_min_agreeing_users": TWO_AGREEING_USERS.min_agreeing_users,
    },
    "off": {"influence_rule": False},
}


@dataclass
class SimConfig:
    out: Path
    prompts: Path = SHIPPED_CORPUS
    queries: Path | None = None  # default: the shipped train split
    eval_queries: Path | None = None  # default: the shipped test split
    start_model: str = "base"
    days: int = 14
    users: int = 200
    queries_per_day: int = 400
    results_per_request: int = 3
    seed: int = 0
    retrain: bool = True
    cycle_every: int = 2
    inject_bad_candidate: bool = False
    bad_candidate_noise: float = 0.6  # weight noise (x each matrix's std) of the bad candidate
    aa_test: bool = False
    inject_candidate: Path | None = None  # a model directory to run one experiment against
    end_when_decided: bool = False  # stop at the end of the day the injected experiment ended
    click: ClickModel = field(default_factory=ClickModel)
    train_config: TrainConfig = field(default_factory=TrainConfig)
    min_votes: int = 200
    experiment_min_votes: int = 100
    experiment_max_days: float = 7.0
    replay_min_pairs: int = 1000
    retrain_from: str = "champion"  # each generation builds on the last one that won
    experiment_mode: str = "interleave"  # or "ab" (see PROMPTBOT_EXPERIMENT_MODE)
    experiment_checks_per_day: int = 24  # the live scheduler checks hourly
    hostile_share: float = 0.0  # share of all votes cast by one hostile user (0: none)
    influence_rule: str = "cap"  # retraining.vote_pairs rule 10: "cap", "agree" or "off"
    cycle_min_voters: int = 20  # rule 10's min_voters (a small simulated server may want fewer)


def _uses_shipped_set(cfg: SimConfig) -> bool:
    return cfg.prompts.resolve() == SHIPPED_CORPUS.resolve() and cfg.queries is None


class Simulation:
    def __init__(
        self, cfg: SimConfig, base: Settings, progress: Callable[[str], None] = print
    ) -> None:
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.progress = progress
        cfg.out.mkdir(parents=True, exist_ok=True)
        sim_home = cfg.out / "home"
        shutil.rmtree(sim_home, ignore_errors=True)
        self.settings = base.model_copy(
            update={
                "home": sim_home,
                "database_url": f"sqlite:///{sim_home / 'sim.db'}",
                "cache_home": base.cache_dir,
                "retrain_min_votes": cfg.min_votes,
                "experiment_min_votes": cfg.experiment_min_votes,
                "experiment_max_days": cfg.experiment_max_days,
                "replay_min_pairs": cfg.replay_min_pairs,
                "retrain_from": cfg.retrain_from,
                "experiment_mode": cfg.experiment_mode,
                "influence_min_voters": cfg.cycle_min_voters,
                **INFLUENCE_RULES[cfg.influence_rule],
            }
        )
        self.hostile_votes = 0
        self.all_votes = 0
        self.now = SIM_START
        self.decisions: list[dict[str, Any]] = []
        self.days: list[dict[str, Any]] = []
        self._ndcg_cache: dict[str, float | None] = {}

    # -- set-up ----------------------------------------------------------------------------
    def _setup(self) -> None:
        sim_home = self.settings.home
        sim_home.mkdir(parents=True, exist_ok=True)
        migrations.upgrade(self.settings.resolved_database_url)
        self.db = Database(self.settings.resolved_database_url)
        report = import_prompt_file(self.db, self.cfg.prompts)
        if report.errors:
            raise ValueError(f"{self.cfg.prompts}: {len(report.errors)} bad line(s)")
        ensure_base_model(self.db, actor="simulator")
        if self.cfg.start_model != "base":
            start = resolve_model(self.cfg.start_model, self.db)
            with self.db.session() as session:
                if start.version_id is None:
                    register_version(
                        session,
                        "start",
                        str(start.path),
                        ModelStatus.CANDIDATE,
                        self.now,
                        label="simulation start model",
                    )
            from storage.repositories.model_versions import set_champion

            with self.db.session() as session:
                set_champion(session, start.version_id or "start", "simulator", "init", self.now)
        self.prompts = load_corpus_from_db(self.db)
        self.users_queries, self.eval_queries, self.golden = self._query_sets()
        engines = ServingEngineFactory(
            self.settings.cache_dir, backend=self.settings.backend, int8=self.settings.int8
        )
        self.pool = ModelPool(self.db, engines)
        self.pool.refresh()
        self.service = PromptService(self.db, self.pool, clock=lambda: self.now)
        self.users = [f"sim-user-{i:04d}" for i in range(self.cfg.users)]
        self._daily_queries = daily_query_mix(
            self.users_queries, self.cfg.queries_per_day, self.cfg.seed
        )

    def _query_sets(self) -> tuple[list[JudgedQuery], list[JudgedQuery], GoldenSet]:
        ids = frozenset(p.id for p in self.prompts)
        if _uses_shipped_set(self.cfg):
            queries, split = load_queries(QUERIES_PATH), Split.load()
            users = restrict_to(split.train_queries(queries), ids)
            default_eval = restrict_to(split.test_queries(queries), ids)
            golden = GoldenSet(self.prompts, queries, split)
        else:
            users = restrict_to(load_queries(self.cfg.queries or QUERIES_PATH), ids)
            default_eval = users
            golden = GoldenSet(self.prompts, [], Split(frozenset(), frozenset(), frozenset()))
        eval_queries = (
            restrict_to(load_queries(self.cfg.eval_queries), ids)
            if self.cfg.eval_queries
            else default_eval
        )
        if not users:
            raise ValueError("no judged user queries match the prompt file")
        return users, eval_queries, golden

    # -- one simulated day -------------------------------------------------------------------
    def _simulate_requests(self, day: int) -> None:
        day_start = SIM_START + timedelta(days=day - 1)
        step = timedelta(days=1) / max(1, self.cfg.queries_per_day)
        check_every = max(1, self.cfg.queries_per_day // max(1, self.cfg.experiment_checks_per_day))
        for i, query in enumerate(self._daily_queries):
            self.now = day_start + i * step
            if i and i % check_every == 0:
                self._check_experiment(day)
            hostile = self._hostile_asks()
            user = HOSTILE_USER if hostile else self.rng.choice(self.users)
            served = self.service.serve(
                user,
                query.query,
                count=self.cfg.results_per_request,
                source="simulator",
                now=self.now,
            )
            grades = [query.relevant.get(r.prompt.id, 0) for r in served.results]
            for result, value in zip(served.results, self._reactions(hostile, grades), strict=True):
                message_id = f"sim-{served.request_id}-{result.rank}"
                self.service.attach_message(result.result_id, message_id, "simulated")
                if value is not None:
                    self.service.record_reaction(
                        message_id, user, "👍" if value > 0 else "👎", True, self.now
                    )
                    self.all_votes += 1
                    self.hostile_votes += hostile

    def _hostile_asks(self) -> bool:
        """The hostile user asks whenever their share of the votes so far is below target."""
        share = self.cfg.hostile_share
        return share > 0 and self.hostile_votes < share * (self.all_votes + 2)

    def _reactions(self, hostile: bool, grades: list[int]) -> list[int | None]:
        """Per shown result: +1, -1 or no reaction. Honest users follow the click model;
        the hostile user 👍 the worst result and 👎 the best (the later of equally bad ones,
        the earlier of equally good), and nothing when every result is graded alike."""
        if not hostile:
            return [
                self.cfg.click.reaction(rank, grade, self.rng)
                for rank, grade in enumerate(grades, start=1)
            ]
        reactions: list[int | None] = [None] * len(grades)
        if len(set(grades)) > 1:
            worst = max(range(len(grades)), key=lambda i: (-grades[i], i))
            best = min(range(len(grades)), key=lambda i: (-grades[i], i))
            reactions[worst], reactions[best] = 1, -1
        return reactions

    def _champion_ndcg5(self) -> tuple[str, float | None]:
        state = self.pool.refresh()
        version = state.serving_id
        if version not in self._ndcg_cache:
            if self.eval_queries:
                metrics = evaluate_ranker(
                    dense_ranker(self.pool.engine(version)), self.eval_queries
                )
                self._ndcg_cache[version] = round(metrics["all"]["NDCG@5"], 4)
            else:
                self._ndcg_cache[version] = None
        return version, self._ndcg_cache[version]

    def _day_stats(self, day: int) -> dict[str, Any]:
        start, end = SIM_START + timedelta(days=day - 1), SIM_START + timedelta(days=day)
        with self.db.session() as session:
            requests = count_requests_between(session, start, end)
            counts = arm_votes_between(session, start, end)
        tally: dict[str, Counter[int]] = {}
        for count in counts:  # outside an experiment the champion served
            tally.setdefault(count.arm or Arm.CHAMPION, Counter())[count.value] += count.count
        rates = {arm: round(c[1] / (c[1] + c[-1]), 4) for arm, c in tally.items() if c[1] + c[-1]}
        votes = sum(sum(c.values()) for c in tally.values())
        ups = sum(c[1] for c in tally.values())
        return {
            "day": day,
            "requests": requests,
            "votes": votes,
            "thumbs_up_rate": rates,
            "overall_thumbs_up_rate": round(ups / votes, 4) if votes else None,
        }

    def _end_of_day(self, day: int) -> int:
        self.now = SIM_START + timedelta(days=day)
        cycles = 0
        self._check_experiment(day)
        if self.cfg.retrain and day % self.cfg.cycle_every == 0:
            self.progress(f"day {day}: retraining cycle")
            report = RetrainingCycle(
                self.db,
                self.settings,
                clock=lambda: self.now,
                in_process=True,
                train_config=self.cfg.train_config,
                golden=self.golden,
                progress=self.progress,
            ).run("simulation")
            cycles += 1
            if report.status == "rejected":
                self.decisions.append(
                    {
                        "day": day,
                        "candidate_version": report.candidate_version,
                        "stage": "gate",
                        "decision": "rejected",
                        "reason": report.reason,
                    }
                )
            elif report.status == "candidate":
                self.progress(
                    f"day {day}: {report.candidate_version} passed the gate "
                    f"({report.reason}); experiment {report.experiment_id} starts"
                )
            elif report.status == "failed":
                raise RuntimeError(f"retraining cycle failed: {report.reason}")
        return cycles

    def _check_experiment(self, day: int) -> None:
        outcome = check_experiment(self.db, self.settings, self.now)
        if outcome and outcome[1].decision:
            self._log_experiment(day, outcome[0], outcome[1])
            self.pool.refresh()  # serve the (possibly new) champion from the next request on

    def _log_experiment(self, day: int, experiment_id: int, verdict: Verdict) -> None:
        with self.db.session() as session:
            experiment = get_experiment(session, experiment_id)
            assert experiment is not None
            candidate, started = experiment.candidate_version_id, experiment.started_at
        arms = (verdict.stats.get(arm, {}) for arm in (CHAMPION, CANDIDATE, AGREED))
        self.decisions.append(
            {
                "day": day,
                "candidate_version": candidate,
                "stage": "experiment",
                "decision": verdict.decision,
                "reason": verdict.reason,
                "hours_running": round((self.now - started) / timedelta(hours=1), 2),
                "experiment_votes": sum(a.get("up", 0) + a.get("down", 0) for a in arms),
            }
        )
        self.progress(
            f"day {day}: experiment {experiment_id} -> {verdict.decision} ({verdict.reason})"
        )

    # -- injected candidates -------------------------------------------------------------------
    def _inject(
        self, version_id: str, label: str, degrade: bool, source: Path | None = None
    ) -> None:
        champion = resolve_model("champion", self.db)
        target = self.settings.models_dir / version_id
        make_degraded_copy(
            source or champion.path,
            target,
            seed=self.cfg.seed,
            degrade=degrade,
            noise=self.cfg.bad_candidate_noise,
        )
        with self.db.session() as session:
            register_version(
                session,
                version_id,
                str(target),
                ModelStatus.CANDIDATE,
                self.now,
                label=label,
                parent_id=champion.version_id,
            )
            current = get_champion(session)
            assert current is not None
            start_experiment(
                session,
                current.id,
                version_id,
                self.settings.experiment_share,
                self.now,
                mode=ExperimentMode(self.settings.experiment_mode),
            )
            write_audit(session, "simulator", "inject_candidate", self.now, target=version_id)

    # -- the run -------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        self._setup()
        if self.cfg.inject_bad_candidate:
            self._inject("bad", "deliberately degraded (noised weights)", degrade=True)
        elif self.cfg.aa_test:
            self._inject("aa", "A/A: identical to the champion", degrade=False)
        elif self.cfg.inject_candidate:
            self._inject(
                "injected", "given candidate", degrade=False, source=self.cfg.inject_candidate
            )
        self.start_version, self.start_ndcg5 = self._champion_ndcg5()
        for day in range(1, self.cfg.days + 1):
            self._simulate_requests(day)
            stats = self._day_stats(day)
            stats["cycles"] = self._end_of_day(day)
            stats["champion_version"], stats["champion_ndcg5"] = self._champion_ndcg5()
            stats["decisions"] = [d for d in self.decisions if d["day"] == day]
            self.days.append(stats)
            self.progress(
                f"day {day}: {stats['requests']} requests, {stats['votes']} votes, 👍 "
                f"{stats['thumbs_up_rate']}, champion {stats['champion_version']} NDCG@5 "
                f"{stats['champion_ndcg5']}"
            )
            if self.cfg.end_when_decided and self._injected_experiment_ended():
                break
        return self.summary()

    def _injected_experiment_ended(self) -> bool:
        return any(d["candidate_version"] in INJECTED for d in self.decisions)

    def summary(self) -> dict[str, Any]:
        first, last = self.days[0], self.days[-1]
        summary: dict[str, Any] = {
            "start_ndcg5": self.start_ndcg5,
            "end_ndcg5": last["champion_ndcg5"],
            "start_thumbs_up_rate": first["overall_thumbs_up_rate"],
            "end_thumbs_up_rate": last["overall_thumbs_up_rate"],
            "days": [
                {
                    k: d[k]
                    for k in (
                        "day",
                        "requests",
                        "votes",
                        "thumbs_up_rate",
                        "champion_version",
                        "champion_ndcg5",
                        "cycles",
                    )
                }
                for d in self.days
            ],
            "decisions": self.decisions,
            "config": {
                "days": self.cfg.days,
                "users": self.cfg.users,
                "queries_per_day": self.cfg.queries_per_day,
                "seed": self.cfg.seed,
                "prompts": str(self.cfg.prompts),
                "start_model": self.cfg.start_model,
                "experiment_mode": self.cfg.experiment_mode,
                "user_queries": len(self.users_queries),
                "eval_queries": len(self.eval_queries),
                "hostile_share": self.cfg.hostile_share,
                "influence_rule": self.cfg.influence_rule,
            },
            "votes": self.all_votes,
            "hostile_votes": self.hostile_votes,
            "promoted": [
                d["candidate_version"] for d in self.decisions if d["decision"] == "promoted"
            ],
        }
        if self.cfg.inject_bad_candidate:
            summary["bad_candidate_promoted"] = any(
                d["candidate_version"] == "bad" and d["decision"] == "promoted"
                for d in self.decisions
            )
        if self.cfg.aa_test:
            summary["aa_candidate_promoted"] = any(
                d["candidate_version"] == "aa" and d["decision"] == "promoted"
                for d in self.decisions
            )
        return summary


def daily_query_mix(queries: list[JudgedQuery], per_day: int, seed: int) -> list[JudgedQuery]:
    """The queries asked each simulated day: every query about equally often, one fixed order.

    Drawing each day's queries at random made the same model's daily 👍 rate swing by
    +-0.05 with which queries happened to be asked. Replaying one balanced mix every day
    (common random numbers, the usual variance reduction when simulated systems are
    compared) leaves the users, their arms and their reactions random, so day-to-day
    differences measure the models rather than the query draw.
    """
    rng = random.Random(f"{seed}:queries")
    order = rng.sample(queries, len(queries))  # which queries get the extra asks, if any
    mix = [order[i % len(order)] for i in range(per_day)]
    rng.shuffle(mix)
    return mix


def make_degraded_copy(src: Path, dst: Path, seed: int, degrade: bool, noise: float = 0.6) -> None:
    """Copy a model; with ``degrade``, add noise (``noise`` x the matrix's std) to every weight
    matrix: 0.6 makes a clearly worse model, 0.1 one a little worse."""
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".*"))
    if not degrade:
        return
    import torch
    from safetensors.torch import load_file, save_file

    weights_file = next(dst.rglob("model.safetensors"))
    weights = load_file(str(weights_file))
    generator = torch.Generator().manual_seed(seed)
    for name, tensor in weights.items():
        if tensor.is_floating_point() and tensor.dim() >= 2:
            added = torch.randn(tensor.shape, generator=generator) * tensor.std() * noise
            weights[name] = (tensor + added).contiguous()
    save_file(weights, str(weights_file), metadata={"format": "pt"})


def write_outputs(summary: dict[str, Any], days: list[dict[str, Any]], out: Path) -> list[Path]:
    from retraining.plots import plot_rates_and_quality

    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    chart = out / "thumbs_up_and_ndcg.png"
    plot_rates_and_quality(
        days, chart, "simulated days: thumbs-up rate per arm and champion NDCG@5"
    )
    return [out / "summary.json", chart]
