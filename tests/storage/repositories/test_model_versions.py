"""The model-version registry: champion moves, rollback, and the one-champion rule the
database enforces."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from storage.database import Database
from storage.models import ModelStatus
from storage.repositories import model_versions
from tests.helpers.storage import T0, add_versions


def test_champion_moves_and_rollback_walks_back(db: Database) -> None:
    add_versions(db)
    with db.session() as s:
        model_versions.set_champion(s, "base", "init", "init", T0)
        model_versions.set_champion(s, "v1", "alice", "promote", T0 + timedelta(1))
        model_versions.set_champion(s, "v2", "alice", "promote", T0 + timedelta(2))
        assert model_versions.get_champion(s).id == "v2"
        assert model_versions.get_version(s, "v1").status == "retired"
        assert model_versions.rollback_target_id(s) == "v1"
        model_versions.set_champion(s, "v1", "bob", "rollback", T0 + timedelta(3))
        assert model_versions.get_version(s, "v2").status == "rejected"
        # a second rollback skips the version just rolled back
        assert model_versions.rollback_target_id(s) == "base"
        model_versions.set_champion(s, "base", "bob", "rollback", T0 + timedelta(4))
        assert model_versions.get_version(s, "base").status == "champion"
        assert [c.action for c in model_versions.champion_history(s)] == [
            "init",
            "promote",
            "promote",
            "rollback",
            "rollback",
        ]
        assert model_versions.resolve_version(s, "champion").id == "base"
        assert model_versions.next_version_id(s) == "v3"
        with pytest.raises(model_versions.UnknownModelVersionError, match="known: base, v1, v2"):
            model_versions.resolve_version(s, "v99")


def test_database_allows_only_one_champion(db: Database) -> None:
    add_versions(db)
    with pytest.raises(IntegrityError), db.session() as s:
        model_versions.set_status(s, "v1", ModelStatus.CHAMPION)
        model_versions.set_status(s, "v2", ModelStatus.CHAMPION)
