"""What the bot holds about a user or a server, and deleting it: only theirs, nothing else,
on both engines; a running experiment's counts stay consistent."""

from __future__ import annotations

from sqlalchemy import func, select

from storage.database import Database
from storage.models import Request, Vote
from storage.repositories import privacy
from storage.repositories.experiments import arm_vote_counts, start_experiment
from storage.repositories.guild_settings import (
    guild_settings,
    record_guild_left,
    update_guild_settings,
)
from tests.helpers.storage import (
    T0,
    add_prompts,
    add_versions,
    request_with_messages,
    vote,
)


def count(db: Database, model: type, *where: object) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0  # type: ignore[arg-type]


def test_user_data_counts_per_server(db: Database) -> None:
    add_prompts(db)
    add_versions(db)
    request_with_messages(db, "alice", "g1", ["m1", "m2"])
    request_with_messages(db, "alice", None, ["m3"])
    request_with_messages(db, "bob", "g2", ["m4"])
    vote(db, "m1", "alice")
    vote(db, "m4", "alice", -1)  # on bob's request: alice's vote, in g2
    with db.session() as s:
        data = privacy.user_data(s, "alice")
        assert privacy.user_data(s, "carol") == privacy.UserData({}, {})
    assert data.requests == {"g1": 1, None: 1}
    assert data.votes == {"g1": 1, "g2": 1}
    assert (data.total_requests, data.total_votes) == (2, 2)


def test_forgetting_deletes_only_that_users_votes_and_unlinks_their_requests(
    db: Database,
) -> None:
    add_prompts(db)
    add_versions(db)
    with db.session() as s:
        experiment = start_experiment(s, "base", "v1", share=0.5, now=T0).id
    request_with_messages(db, "alice", "g1", ["m1", "m2"], experiment, "candidate")
    request_with_messages(db, "bob", "g1", ["m3"], experiment, "champion")
    vote(db, "m1", "alice")
    vote(db, "m1", "bob")  # bob's vote on alice's result stays
    vote(db, "m3", "alice", -1)
    vote(db, "m3", "bob")
    with db.session() as s:
        forgotten = privacy.forget_user(s, "alice", T0)
    assert forgotten == privacy.Forgotten(votes=2, requests=1)
    assert count(db, Vote, Vote.voter_id == "alice") == 0
    assert count(db, Vote, Vote.voter_id == "bob") == 2
    assert count(db, Request, Request.user_id == "alice") == 0
    assert count(db, Request, Request.user_id == privacy.FORGOTTEN_USER) == 1
    with db.session() as s:
        counts = {(c.arm, c.value): c.count for c in arm_vote_counts(s, experiment)}
        assert counts == {("candidate", 1): 1, ("champion", 1): 1}  # bob's two votes, no more
        digest = privacy.voter_digest("alice")
        assert privacy.forgotten_voters(s, "m1") == {digest}
        assert privacy.forgotten_voters(s, "m3") == {digest}
        assert privacy.forgotten_voters(s, "m2") == set()  # never voted there
        assert privacy.forget_user(s, "alice", T0) == privacy.Forgotten(0, 0)  # idempotent
        privacy.reaction_given_again(s, "m1", "alice")
        assert privacy.forgotten_voters(s, "m1") == set()
    assert digest != "alice" and "alice" not in digest


def test_deleting_a_servers_data_leaves_every_other_server_alone(db: Database) -> None:
    add_prompts(db)
    add_versions(db)
    request_with_messages(db, "alice", "g1", ["m1", "m2"])
    request_with_messages(db, "bob", "g2", ["m3"])
    vote(db, "m1", "bob")
    vote(db, "m3", "alice")
    with db.session() as s:
        update_guild_settings(s, "g1", {"max_count": 2}, "x", T0)
        update_guild_settings(s, "g2", {"max_count": 3}, "x", T0)
        record_guild_left(s, "g1", T0)
    with db.session() as s:
        assert privacy.delete_guild_data(s, "g1") == privacy.GuildData(requests=1, votes=1)
    assert count(db, Request, Request.guild_id == "g1") == 0
    assert count(db, Request, Request.guild_id == "g2") == 1
    assert count(db, Vote) == 1
    with db.session() as s:
        assert guild_settings(s, "g1").max_count == 5
        assert guild_settings(s, "g2").max_count == 3
        assert privacy.user_data(s, "alice").votes == {"g2": 1}


def test_a_servers_own_prompts_and_daily_prompt_go_with_its_data(db: Database) -> None:
    from storage.models import DailyFeedback, DailyPost, Prompt, PromptSubmission
    from storage.prompt_file import PromptRecord
    from storage.repositories import daily, guild_prompts

    for guild in ("g1", "g2"):
        with db.session() as s:
            guild_prompts.write_guild_prompts(
                s, guild, [PromptRecord("1", f"text of {guild}")], "author", "t", T0
            )
            guild_prompts.add_submission(s, guild, "member", PromptRecord("x", "sub"), None, T0)
            daily.set_schedule(s, guild, "c", "09:00", "UTC", None, "admin", T0)
            post = daily.add_pending_post(
                s, guild, "c", "2026-01-01", guild_prompts.guild_prompt_key(guild, "1"), T0
            )
            assert post is not None
            post.message_id = f"m-{guild}"
            daily.record_daily_reaction(s, f"m-{guild}", "member", 1, True, T0)
    with db.session() as s:
        privacy.delete_guild_data(s, "g1")
    with db.session() as s:
        assert {
            p.guild_id for p in s.scalars(select(Prompt).where(Prompt.guild_id.is_not(None)))
        } == {"g2"}
        assert {p.guild_id for p in s.scalars(select(DailyPost))} == {"g2"}
        assert s.scalar(select(func.count()).select_from(DailyFeedback)) == 1
        assert daily.get_schedule(s, "g1") is None and daily.get_schedule(s, "g2") is not None
        privacy.forget_user(s, "member", T0)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(DailyFeedback)) == 0
        [submission] = s.scalars(select(PromptSubmission)).all()
        assert submission.submitter_id == privacy.FORGOTTEN_USER
