"""Requests and their shown results, and the message ids reactions are matched by."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from storage.database import Database
from storage.repositories import requests
from tests.helpers.storage import T0, add_prompts, add_versions, shown


def test_request_results_and_message_lookup(db: Database) -> None:
    add_prompts(db)
    add_versions(db)
    request_id = shown(db, ["m1", "m2"])
    with db.session() as s:
        result = requests.result_for_message(s, "m2")
        assert (result.request_id, result.rank, result.prompt_id) == (request_id, 2, "p1")
        assert requests.result_for_message(s, "nope") is None
        assert len(requests.result_messages_since(s, T0 - timedelta(1))) == 2
        assert requests.result_messages_since(s, T0 + timedelta(1)) == []


def test_message_id_is_unique(db: Database) -> None:
    add_prompts(db)
    add_versions(db)
    shown(db, ["m1"])
    with pytest.raises(IntegrityError):
        shown(db, ["m1"])
