"""Training datasets: every build of training pairs, versioned, so each model can say what it
learned from (counts by source, the vote id range covered, the rules used)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import ModelVersion, TrainingDataset, TrainingPair


def save_dataset(
    session: Session,
    pairs: Iterable[tuple[str, str, str | None, str]],  # anchor, positive id, negative id, source
    now: datetime,
    vote_id_min: int | None = None,
    vote_id_max: int | None = None,
    rules: dict[str, Any] | None = None,
) -> TrainingDataset:
    dataset = TrainingDataset(
        created_at=now, vote_id_min=vote_id_min, vote_id_max=vote_id_max, rules=rules or {}
    )
    counts: Counter[str] = Counter()
    for anchor, positive_id, negative_id, source in pairs:
        dataset.pairs.append(
            TrainingPair(
                anchor=anchor, positive_id=positive_id, negative_id=negative_id, source=source
            )
        )
        counts[source] += 1
    dataset.counts = {"total": sum(counts.values()), **dict(counts)}
    session.add(dataset)
    session.flush()
    return dataset


def get_dataset(session: Session, dataset_id: int) -> TrainingDataset | None:
    return session.get(TrainingDataset, dataset_id)


def last_vote_id_trained(session: Session) -> int | None:
    """The highest vote id covered by a dataset that produced a registered model (votes after
    it are new). A cycle that died before registering consumed nothing."""
    stmt = select(func.max(TrainingDataset.vote_id_max)).join(
        ModelVersion, ModelVersion.dataset_id == TrainingDataset.id
    )
    return session.scalar(stmt)
