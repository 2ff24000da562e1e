"""All configuration in one place, read from ``PROMPTBOT_*`` environment variables.

An optional TOML file (``PROMPTBOT_CONFIG=/path/promptbot.toml``) supplies defaults that
environment variables override. The Discord token is read from ``DISCORD_TOKEN`` only and is
kept as a ``SecretStr`` so it never appears in ``repr``, logs or error messages.

Shipped files (the corpus, vocabulary, judged queries and the Alembic migrations) are found by
:func:`shipped_dir`. In the repository they stay in the top-level folders data/ and alembic/,
where people look for them; an installed wheel carries them inside this package as
``storage/_shipped/data`` and ``storage/_shipped/alembic`` (setup.py maps them there, because
neither folder can be a top-level package: ``alembic`` would shadow the library). So the
installed copy is looked up first, through importlib.resources, and the source tree second,
which is what a checkout, an editable install and ``PYTHONPATH=.`` all see.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def shipped_dir(name: str) -> Path:
    """The folder ``name`` (``data`` or ``alembic``) of an installed wheel, else of the checkout."""
    package_dir = Path(str(resources.files("storage")))
    installed = package_dir / "_shipped" / name
    if installed.is_dir():
        return installed
    return package_dir.parent / name


DATA_DIR = shipped_dir("data")
MIGRATIONS_DIR = shipped_dir("alembic")


def default_home() -> Path:
    return Path(platformdirs.user_data_dir("promptbot", appauthor=False))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PROMPTBOT_", extra="ignore")

    home: Path = Field(default_factory=default_home, description="models, indexes, SQLite file")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite under home"
    )
    discord_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("DISCORD_TOKEN", "PROMPTBOT_DISCORD_TOKEN")
    )
    discord_api_url: str | None = Field(default=None, description="REST base, e.g. .../api/v10")
    discord_gateway_url: str | None = Field(default=None, description="gateway ws:// URL")
    dev_guild_id: int | None = Field(default=None, description="sync commands to this guild only")
    admin_role: str | None = Field(
        default=None, description="role name that may use /model status and /settings"
    )
    operator_ids: str = Field(
        default="",
        description="Discord user ids (comma or space separated) who may change the shared "
        "model, besides the application's owner or team; entries that are not ids are "
        "ignored and reported by `promptbot doctor`",
    )
    control_guild_id: int | None = Field(
        default=None, description="register the operators' /model commands only in this guild"
    )
    guild_retention_days: float = Field(
        default=30.0, ge=0, description="delete a removed server's data this long after"
    )
    cooldown_requests: int = Field(default=5, description="/prompt calls allowed per window")
    cooldown_seconds: float = Field(default=60.0, description="cooldown window")
    reconcile_days: int = Field(default=7, description="on start, re-read reactions this far back")
    reconcile_max_requests: int = Field(
        default=1000, ge=1, description="REST reads per catch-up; the rest waits for the next start"
    )
    reconcile_requests_per_second: float = Field(
        default=5.0, gt=0, description="pace of the catch-up's reads (Discord allows 50/s in all)"
    )
    vote_catch_up_seconds: float = Field(
        default=30.0, gt=0, description="how often votes the database refused are written again"
    )
    max_keywords_chars: int = 200
    metrics_port: int | None = Field(
        default=None, description="serve /metrics and /healthz on this port; unset: off"
    )

    backend: Literal["onnx", "onnx-int8", "torch"] = Field(
        default="onnx",
        description="serving encoder (onnx: fp32, or int8 where it measures as well)",
    )
    int8: Literal["auto", "off"] = Field(
        default="auto",
        description="with backend onnx, serve a version's int8 copy if it scores at least as "
        "well as fp32 on the golden test split (checked once per version)",
    )
    approximate_above: int = Field(default=50_000, description="use HNSW above this corpus size")
    hybrid: bool = Field(default=False, description="fuse BM25 with dense scores")
    typo_tolerance: bool = Field(
        default=True,
        description="snap misspelled query words to the corpus vocabulary before encoding",
    )
    theme_weight: float = Field(
        default=0.15,
        ge=0.0,
        le=1.0,
        description="bonus for each theme a query names that a prompt carries, added to the "
        "dense top 30 (0: off); fit on the train split",
    )
    champion_poll_seconds: float = Field(default=5.0, description="how often serving re-reads")

    retrain_schedule: str = Field(
        default="0 4 * * mon",
        description="cron (UTC; name weekdays: APScheduler counts 0 as Monday) or interval:SECONDS",
    )
    retrain_min_votes: int = Field(default=50, description="new votes needed to train")
    retrain_from: Literal["champion", "base"] = "base"
    replay_ratio: float = Field(default=1.0, description="corpus pairs per vote pair")
    vote_pair_max_repeats: int = Field(
        default=8, ge=1, description="most times a vote pair is repeated to balance the replay"
    )
    replay_min_pairs: int = Field(default=2000, description="at least this many corpus pairs")
    votes_daily_cap: int = Field(default=50, description="votes per user per day that count")
    influence_rule: bool = Field(
        default=True,
        description="one voice per user per (query, prompt), and no user over "
        "influence_max_user_share of a dataset or an experiment (retraining.vote_pairs rule 10)",
    )
    influence_max_user_share: float = Field(
        default=0.05,
        gt=0.0,
        le=1.0,
        description="most of a dataset's voices, or of an experiment's voted requests, one user "
        "may supply (never below twice an even share)",
    )
    influence_min_agreeing_users: int = Field(
        default=1, ge=1, description="users who must agree on a judgment (a big enough dataset)"
    )
    influence_min_voters: int = Field(
        default=20, ge=1, description="distinct voters from which agreement is required"
    )
    heldout_user_fraction: float = Field(
        default=0.0, ge=0.0, lt=1.0, description="users whose votes only judge, never train"
    )
    train_threads: int = Field(default=1, description="torch threads for background training")
    gate_tolerance: float = Field(default=0.01, description="allowed golden-set NDCG@5 drop")
    lease_seconds: float = Field(default=3 * 3600, description="retraining lease expiry")
    scheduler_lease_seconds: float = Field(
        default=60.0, gt=0, description="a dead scheduler leader is replaced after this long"
    )
    scheduler_renew_seconds: float = Field(
        default=20.0, gt=0, description="how often the leader renews and followers check"
    )

    guild_max_prompts: int = Field(
        default=5_000, ge=0, description="most prompts one server may add of its own"
    )
    guild_open_submissions: int = Field(
        default=3, ge=1, description="submissions one member may have waiting for moderators"
    )
    curator_role: str | None = Field(
        default=None,
        description="role name that may manage a server's prompts besides Manage Server",
    )
    daily_no_repeat_days: int = Field(
        default=60,
        ge=0,
        description="a channel's daily prompt is not repeated within this many days",
    )
    daily_poll_seconds: float = Field(
        default=10.0, gt=0, description="how often a bot looks for daily prompts to post"
    )

    experiment_mode: Literal["ab", "interleave"] = Field(
        default="interleave",
        description="ab: users split between models; interleave: team-draft lists",
    )
    experiment_share: float = Field(
        default=0.5, description="share of users in the candidate arm / shown interleaved lists"
    )
    experiment_min_votes: int = Field(default=100, description="votes per arm before deciding")
    experiment_alpha: float = Field(default=0.05, description="always-valid p-value threshold")
    experiment_max_days: float = 14.0

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'promptbot.db'}"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    cache_home: Path | None = Field(
        default=None, description="ONNX exports and embedding caches; default home/cache"
    )

    @property
    def cache_dir(self) -> Path:
        return self.cache_home or self.home / "cache"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("PROMPTBOT_CONFIG")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)


def load_settings(**overrides: object) -> Settings:
    """Read settings afresh (environment and config file), with explicit overrides on top."""
    return Settings(**overrides)  # type: ignore[arg-type]
