"""Checking the running experiment and acting on its verdict (scheduler job and admins)."""

from __future__ import annotations

from datetime import datetime

from retraining.experiments import (
    CANDIDATE,
    CHAMPION,
    DecisionRule,
    Verdict,
    count_votes,
    decide,
)
from retraining.interleaving import count_interleaving, decide_interleaving
from retraining.stop_points import stop_point
from storage.database import Database, Session, utcnow
from storage.models import Experiment, ExperimentDecision, ExperimentMode, ModelStatus
from storage.repositories.audit import write_audit
from storage.repositories.experiments import finish_experiment, running_experiment
from storage.repositories.model_versions import set_champion, set_status
from storage.settings import Settings


def rule_from(settings: Settings) -> DecisionRule:
    return DecisionRule(
        min_votes=settings.experiment_min_votes,
        alpha=settings.experiment_alpha,
        max_days=settings.experiment_max_days,
        max_user_share=settings.influence_max_user_share if settings.influence_rule else 1.0,
    )


def current_verdict(
    session: Session, experiment: Experiment, rule: DecisionRule, now: datetime
) -> Verdict:
    """The decision rule of the experiment's mode applied to its votes so far."""
    previous_p = float((experiment.stats or {}).get("p_value", 1.0))
    if experiment.mode == ExperimentMode.INTERLEAVE:
        return decide_interleaving(
            count_interleaving(session, experiment.id, rule.max_user_share),
            experiment.started_at,
            now,
            rule,
            previous_p,
        )
    counts = count_votes(session, experiment.id, rule.max_user_share)
    return decide(counts[CHAMPION], counts[CANDIDATE], experiment.started_at, now, rule, previous_p)


def check_experiment(
    db: Database, settings: Settings, now: datetime | None = None
) -> tuple[int, Verdict] | None:
    """Decide the running experiment if its data allow; returns (experiment id, verdict)."""
    now = now or utcnow()
    with db.session() as session:
        experiment = running_experiment(session)
        if experiment is None:
            return None
        verdict = current_verdict(session, experiment, rule_from(settings), now)
        experiment.stats = {**verdict.stats, "checked_at": now.isoformat(timespec="seconds")}
        if verdict.decision is None:
            return experiment.id, verdict
        finish_experiment(
            session, experiment, verdict.decision, verdict.reason, now, experiment.stats
        )
        candidate = experiment.candidate_version_id
        if verdict.decision == ExperimentDecision.PROMOTED:
            set_champion(session, candidate, actor="experiment", action="experiment", now=now)
        else:
            rejected = verdict.decision == ExperimentDecision.REJECTED
            status = ModelStatus.REJECTED if rejected else ModelStatus.RETIRED
            set_status(session, candidate, status, f"experiment {experiment.id}: {verdict.reason}")
        write_audit(
            session,
            "scheduler",
            f"experiment_{verdict.decision}",
            now,
            target=candidate,
            details={"experiment": experiment.id, "reason": verdict.reason},
        )
        stop_point("promotion")
        return experiment.id, verdict


def stop_experiment(db: Database, actor: str, now: datetime | None = None) -> str:
    """An admin stops the running experiment early; the champion is kept."""
    now = now or utcnow()
    with db.session() as session:
        experiment = running_experiment(session)
        if experiment is None:
            return "No experiment is running."
        finish_experiment(session, experiment, ExperimentDecision.KEPT, f"stopped by {actor}", now)
        set_status(
            session,
            experiment.candidate_version_id,
            ModelStatus.RETIRED,
            f"experiment {experiment.id} stopped by {actor}",
        )
        write_audit(
            session,
            actor,
            "experiment_stop",
            now,
            target=experiment.candidate_version_id,
            details={"experiment": experiment.id},
        )
        return (
            f"Stopped experiment {experiment.id}; {experiment.champion_version_id} stays champion."
        )
