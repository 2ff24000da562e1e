"""Catch-up bookkeeping: shards' last-seen times, result channels in a time window, standing
vote counts and per-channel progress."""

from __future__ import annotations

from datetime import timedelta

from storage.database import Database
from storage.repositories import reconcile
from tests.helpers.storage import T0


def test_last_seen_only_moves_forward(db: Database) -> None:
    with db.session() as s:
        reconcile.touch_gateway(s, ["0/2", "1/2"], T0)
    with db.session() as s:
        reconcile.touch_gateway(s, ["0/2"], T0 + timedelta(minutes=5))
        reconcile.touch_gateway(s, ["1/2"], T0 - timedelta(minutes=5))
    with db.session() as s:
        assert reconcile.gateway_presence(s) == {"0/2": T0 + timedelta(minutes=5), "1/2": T0}


def test_progress_keeps_a_cursor_until_the_channel_is_finished(db: Database) -> None:
    with db.session() as s:
        reconcile.save_cursor(s, "10", "12345")
    with db.session() as s:
        assert reconcile.reconcile_progress(s) == {"10": reconcile.ChannelProgress("12345", None)}
        reconcile.finish_channel(s, "10", T0)
    with db.session() as s:
        assert reconcile.reconcile_progress(s) == {"10": reconcile.ChannelProgress(None, T0)}


def test_no_counts_for_no_messages(db: Database) -> None:
    with db.session() as s:
        assert reconcile.standing_vote_counts(s, []) == {}
        assert reconcile.result_channels(s, T0 - timedelta(days=7), T0) == []
