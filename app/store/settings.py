"""One settings object for every process: env prefix STUDIO_, `.env` read when present."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_TOKEN_LENGTH = 16


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STUDIO_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        default=Path(".studio"),
        description="Uploads, prepared tokens, checkpoints, the SQLite file and the token.",
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; empty means a SQLite file in data_dir."
    )
    redis_url: str | None = Field(
        default=None, description="Broker and pub/sub; empty means `serve` starts valkey."
    )
    host: str = "127.0.0.1"
    port: int = 8000
    forwarded_allow_ips: str = Field(
        default="",
        description="Reverse proxies whose X-Forwarded-Proto/-For/-Host are believed: "
        "comma-separated addresses or networks (127.0.0.1, 172.16.0.0/12), `*` for any peer; "
        "empty means none (app.api.forwarded).",
    )
    token: str | None = Field(
        default=None, description="Access token; empty means one kept in data_dir/token."
    )
    # Wrong tokens each client may send a minute (and at once); then it waits.
    token_attempts_per_minute: int = Field(default=10, ge=1)
    max_upload_bytes: int = Field(default=4 * 1024**3, ge=1)
    models_dir: Path | None = Field(
        default=None,
        description="Hugging Face GPT-2 folders a run may start from (init_from); empty means "
        "data_dir/models. No other server path is accepted from the API.",
    )
    # Corpora whose text is up to this size are read and described (GPT-2 token count
    # included) before the reply; larger ones by a job, so the upload itself runs at disk speed.
    inspect_inline_bytes: int = Field(default=32 * 1024**2, ge=0)
    import_dirs: str = Field(
        default="",
        description="Directories POST /datasets/import may read (server-side corpora too big "
        "to upload), separated by `:`; empty turns import off. The API and the workers must "
        "see them at the same paths.",
    )
    # Archive bombs: an upload or import is refused past any of these (uncompressed bytes).
    archive_max_members: int = Field(default=100_000, ge=1)
    archive_max_member_bytes: int = Field(default=16 * 1024**3, ge=1)
    archive_max_total_bytes: int = Field(default=256 * 1024**3, ge=1)
    archive_max_ratio: float = Field(default=200.0, gt=1)
    # Jobs: a run whose heartbeat is older than stale_after_s is reaped.
    heartbeat_interval_s: float = Field(default=2.0, gt=0)
    stale_after_s: float = Field(default=60.0, gt=0)
    reaper_interval_s: float = Field(default=15.0, gt=0)
    max_attempts: int = Field(default=3, ge=1)
    # A queued job not claimed within this of its last wake-up has it sent again (lost in a
    # broker restart, never sent while the broker was away, or delivered to a worker that
    # died), unless it waits undelivered on its queue (app.store.lease): one reaper interval.
    resend_after_s: float = Field(default=15.0, gt=0)
    # How often the training process writes buffered metrics and checks for cancel.
    flush_interval_s: float = Field(default=0.2, gt=0)
    sample_timeout_s: float = Field(default=120.0, gt=0)
    sampler_cache_size: int = Field(default=2, ge=1)
    train_concurrency: int = Field(default=1, ge=1)
    # Runs that may share one GPU (train workers): 1 means a GPU is one run's alone.
    runs_per_gpu: int = Field(default=1, ge=1)
    # Refuse a run whose estimated memory exceeds the free memory of the train workers'
    # device (off: for hardware where the estimate is known to be wrong).
    memory_guard: bool = True
    # Train workers measure their device's speed once (a few seconds; kept in data_dir) for
    # the budget planner; off: budget runs plan with the engine's cached figure per kind.
    calibrate: bool = True
    log_level: str = "info"

    @field_validator("database_url", "redis_url", "token", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("token", mode="after")
    @classmethod
    def _strong_enough(cls, value: str | None) -> str | None:
        if value is not None and len(value) < MIN_TOKEN_LENGTH:
            raise ValueError(
                f"STUDIO_TOKEN must be at least {MIN_TOKEN_LENGTH} characters (it is the only "
                "lock on the studio); `openssl rand -hex 24` makes a good one, or leave it "
                "empty for one made at random"
            )
        return value

    @field_validator("forwarded_allow_ips", mode="after")
    @classmethod
    def _addresses(cls, value: str) -> str:
        """uvicorn takes a mistyped entry (or a network with host bits, 10.0.0.1/8) as a
        literal name that never matches: refuse the first, write the second as its network."""
        entries = [entry.strip() for entry in value.split(",") if entry.strip()]
        if entries == ["*"]:
            return "*"
        written = []
        for entry in entries:
            try:
                network = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"STUDIO_FORWARDED_ALLOW_IPS: {entry!r} is not an IP address or network "
                    "(e.g. 127.0.0.1, 10.0.0.0/8); `*` alone trusts every peer"
                ) from None
            written.append(str(network) if "/" in entry else str(network.network_address))
        return ",".join(written)

    @field_validator("import_dirs", mode="after")
    @classmethod
    def _import_dirs(cls, value: str) -> str:
        """Absolute paths only: a relative one would mean a different folder in each process."""
        for entry in _split_dirs(value):
            if not Path(entry).expanduser().is_absolute():
                raise ValueError(
                    f"STUDIO_IMPORT_DIRS: {entry!r} is not an absolute path (e.g. /srv/corpora)"
                )
        return value

    @field_validator("data_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'studio.db'}"

    @property
    def import_roots(self) -> list[Path]:
        """The import directories, symlinks resolved (what an import path must stay under)."""
        return [Path(entry).expanduser().resolve() for entry in _split_dirs(self.import_dirs)]

    @property
    def pretrained_dir(self) -> Path:
        return (self.models_dir or self.data_dir / "models").expanduser().resolve()

    @property
    def datasets_dir(self) -> Path:
        return self.data_dir / "datasets"

    @property
    def runs_dir(self) -> Path:
        return self.data_dir / "runs"

    def dataset_dir(self, dataset_id: int) -> Path:
        return self.datasets_dir / str(dataset_id)

    def prepared_dir(self, dataset_id: int, tokenizer: str, val_fraction: float) -> Path:
        # One folder per (tokenizer, split), so re-splitting never touches data a run uses.
        return self.dataset_dir(dataset_id) / f"{tokenizer}-val{val_fraction:g}"

    def run_dir(self, run_id: int) -> Path:
        return self.runs_dir / str(run_id)


def _split_dirs(value: str) -> list[str]:
    return [entry.strip() for entry in value.split(":") if entry.strip()]


@lru_cache
def get_settings() -> Settings:
    return Settings()
