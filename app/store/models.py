"""The ORM: the database is the truth about datasets, preparations, runs and their history."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Autoincrementing integer keys that are never reused (SQLite needs AUTOINCREMENT for that),
# so a deleted run's id never names a new run's files or streams.
_TABLE_ARGS: dict[str, Any] = {"sqlite_autoincrement": True}
IdType = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class _NulFree:
    """PostgreSQL's text cannot hold U+0000 and SQLite's can; text from users and from models
    (a byte-level BPE can sample the 0x00 byte) is stored with it as U+FFFD on both, so both
    give back the same."""

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return value.replace("\x00", "\ufffd") if value is not None else None


class NulFreeText(_NulFree, TypeDecorator[str]):
    impl = Text
    cache_ok = True  # SQLAlchemy reads it on the class itself, not from a mixin


class NulFreeString(_NulFree, TypeDecorator[str]):
    impl = String
    cache_ok = True


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
    }


class Dataset(Base):
    __tablename__ = "datasets"
    __table_args__ = (Index("ix_datasets_created_at", "created_at"), _TABLE_ARGS)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    name: Mapped[str] = mapped_column(NulFreeString(200))
    # A large upload is described by a job after it is stored: "inspecting" until then.
    state: Mapped[str] = mapped_column(String(16))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(NulFreeText)
    bytes: Mapped[int] = mapped_column(BigInteger)
    characters: Mapped[int | None] = mapped_column(BigInteger)
    lines: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    vocab: Mapped[list[str] | None]
    gpt2_tokens: Mapped[int | None] = mapped_column(BigInteger)
    # A corpus: every file, record or row is a document (the text file keeps them apart).
    documents: Mapped[int | None] = mapped_column(BigInteger)
    duplicates: Mapped[int | None] = mapped_column(BigInteger)  # exact repeats seen
    doc_lengths: Mapped[list[dict[str, int]] | None] = mapped_column(JSON)  # a histogram
    preview_documents: Mapped[list[str] | None]
    # What it was read from (name, format, documents, skipped entries …) and how.
    sources: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    options: Mapped[dict[str, Any] | None]  # text_field, dedup, on_bad_record
    # Files the inspect job still has to read into the corpus (server paths); None once read.
    inputs: Mapped[list[dict[str, str]] | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker_id: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None]
    woken_at: Mapped[datetime | None]  # the lease's last wake-up (app.store.lease)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    preparations: Mapped[list[Preparation]] = relationship(
        back_populates="dataset",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Preparation.id",
        lazy="selectin",
    )


class Preparation(Base):
    """A dataset tokenized with one tokenizer and split: datasets/<id>/<tok>-val<f>/."""

    __tablename__ = "preparations"
    __table_args__ = (
        UniqueConstraint("dataset_id", "tokenizer", "val_fraction", name="uq_preparation"),
        Index("ix_preparations_state", "state"),
        _TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    tokenizer: Mapped[str] = mapped_column(String(16))
    val_fraction: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(16))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    train_tokens: Mapped[int | None] = mapped_column(BigInteger)
    val_tokens: Mapped[int | None] = mapped_column(BigInteger)
    vocab_size: Mapped[int | None] = mapped_column(Integer)
    # How val was held out: "documents" (whole documents) or "tail" (the end of the text).
    split: Mapped[str | None] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(NulFreeText)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker_id: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None]
    woken_at: Mapped[datetime | None]  # the lease's last wake-up (app.store.lease)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]

    dataset: Mapped[Dataset] = relationship(back_populates="preparations")


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_created_at", "created_at"),
        # The list's filters, each in id order (newest first), and the train queue's order.
        Index("ix_runs_state_id", "state", "id"),
        Index("ix_runs_dataset_id_id", "dataset_id", "id"),
        Index("ix_runs_state_queued_at", "state", "queued_at"),
        Index("ix_runs_preparation_id", "preparation_id"),
        _TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    name: Mapped[str] = mapped_column(NulFreeString(200))
    # A finished run outlives its dataset: the checkpoint carries the tokenizer.
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id", ondelete="SET NULL"))
    preparation_id: Mapped[int | None] = mapped_column(
        ForeignKey("preparations.id", ondelete="SET NULL")
    )
    tokenizer: Mapped[str] = mapped_column(String(16))
    val_fraction: Mapped[float] = mapped_column(Float)
    preset: Mapped[str | None] = mapped_column(String(64))
    config: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16))
    failure_reason: Mapped[str | None] = mapped_column(String(16))
    failure_message: Mapped[str | None] = mapped_column(NulFreeText)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # a sweep's pruner asked it to stop: its stop ends it `pruned` (checkpoint kept)
    prune_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    iter: Mapped[int] = mapped_column(Integer, default=0)
    max_iters: Mapped[int] = mapped_column(Integer)
    best_val_loss: Mapped[float | None] = mapped_column(Float)
    last_train_loss: Mapped[float | None] = mapped_column(Float)
    last_val_loss: Mapped[float | None] = mapped_column(Float)
    tokens_per_sec: Mapped[float | None] = mapped_column(Float)
    mfu: Mapped[float | None] = mapped_column(Float)
    eta_s: Mapped[float | None] = mapped_column(Float)
    device: Mapped[str | None] = mapped_column(String(64))
    # torch.compile as the run's process has it: on, off, or "failed: <reason>" (it fell back
    # to eager mode, worker.engine.training.compile_fallback); None until it reports.
    compile: Mapped[str | None] = mapped_column(NulFreeText)
    # What a running run's process is doing before its first point (RunPhase); None until
    # the process reports, and reset when a worker claims the run.
    phase: Mapped[str | None] = mapped_column(String(16))
    # Placement (app.planning.routing): the devices asked for, the train queue that holds
    # the run (a worker able to run it consumes it), and where its attempt runs.
    queue: Mapped[str] = mapped_column(String(64), default="train", server_default="train")
    devices: Mapped[dict[str, Any] | None]
    placement: Mapped[dict[str, Any] | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker_id: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None]
    woken_at: Mapped[datetime | None]  # the lease's last wake-up (app.store.lease)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When it joined its queue: its place there (first queued, first started), kept when it
    # is put back (a lost worker, the service stopping); set anew by a resume.
    queued_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class Sweep(Base):
    """A search over knobs: its trials are ordinary runs (SweepTrial), suggested and pruned
    by Optuna from what the database holds (worker/jobs/sweeper.py)."""

    __tablename__ = "sweeps"
    __table_args__ = (Index("ix_sweeps_state", "state"), _TABLE_ARGS)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    name: Mapped[str] = mapped_column(NulFreeString(200))
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id", ondelete="SET NULL"))
    tokenizer: Mapped[str] = mapped_column(String(16))
    val_fraction: Mapped[float] = mapped_column(Float)
    preset: Mapped[str | None] = mapped_column(String(64))
    config: Mapped[dict[str, Any]]  # the base config: the user's knobs, under each trial's
    space: Mapped[dict[str, Any]]  # knob -> {"choices": [...]} | {"low", "high", "log"}
    budget_s: Mapped[float | None] = mapped_column(Float)  # each trial's, or max_iters
    trials: Mapped[int] = mapped_column(Integer)
    parallel: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    failure_message: Mapped[str | None] = mapped_column(NulFreeText)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class SweepTrial(Base):
    """One trial: the knobs Optuna asked for, the run that tries them, and how it ended."""

    __tablename__ = "sweep_trials"
    __table_args__ = (
        UniqueConstraint("sweep_id", "number", name="uq_sweep_trial_number"),
        _TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    sweep_id: Mapped[int] = mapped_column(ForeignKey("sweeps.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    params: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16))  # a TrialState
    value: Mapped[float | None] = mapped_column(Float)  # its best val bits per character
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Metric(Base):
    """One logged step: the loss of the step, plus the eval losses when it was evaluated."""

    __tablename__ = "metrics"
    __table_args__ = (UniqueConstraint("run_id", "iter", name="uq_metric_run_iter"), _TABLE_ARGS)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    iter: Mapped[int] = mapped_column(Integer)
    train_loss: Mapped[float | None] = mapped_column(Float)
    val_loss: Mapped[float | None] = mapped_column(Float)
    eval_train_loss: Mapped[float | None] = mapped_column(Float)
    val_bpc: Mapped[float | None] = mapped_column(Float)  # val_loss in bits per character
    lr: Mapped[float | None] = mapped_column(Float)
    tokens_per_sec: Mapped[float | None] = mapped_column(Float)
    mfu: Mapped[float | None] = mapped_column(Float)
    memory_bytes: Mapped[int | None] = mapped_column(BigInteger)
    elapsed_s: Mapped[float | None] = mapped_column(Float)
    logged_at: Mapped[datetime] = mapped_column(default=utcnow)


class LogLine(Base):
    __tablename__ = "log_lines"
    __table_args__ = (Index("ix_log_lines_run_id_id", "run_id", "id"), _TABLE_ARGS)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    line: Mapped[str] = mapped_column(NulFreeText)
    logged_at: Mapped[datetime] = mapped_column(default=utcnow)


class Checkpoint(Base):
    """A checkpoint file of a run: ckpt.pt (latest) or best.pt, updated when rewritten."""

    __tablename__ = "checkpoints"
    __table_args__ = (
        UniqueConstraint("run_id", "name", name="uq_checkpoint_run_name"),
        _TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    iter: Mapped[int] = mapped_column(Integer)
    val_loss: Mapped[float | None] = mapped_column(Float)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Export(Base):
    """A run's checkpoint in another tool's format, packed as one .zip (runs/<id>/exports/)."""

    __tablename__ = "exports"
    __table_args__ = (
        Index("ix_exports_run_id_id", "run_id", "id"),
        Index("ix_exports_state", "state"),
        _TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    format: Mapped[str] = mapped_column(String(16))  # export_formats.FORMATS
    checkpoint: Mapped[str] = mapped_column(String(16))  # latest (ckpt.pt) or best (best.pt)
    state: Mapped[str] = mapped_column(String(16))
    failure_reason: Mapped[str | None] = mapped_column(String(16))
    failure_message: Mapped[str | None] = mapped_column(NulFreeText)
    iter: Mapped[int | None] = mapped_column(Integer)  # the exported checkpoint's iteration
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker_id: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None]
    woken_at: Mapped[datetime | None]  # the lease's last wake-up (app.store.lease)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class Evaluation(Base):
    """A checkpoint of a run scored on a text of the user's: a dataset's corpus, or pasted
    text (kept here, so the job reads it). A deleted dataset leaves its evaluations."""

    __tablename__ = "evaluations"
    __table_args__ = (
        Index("ix_evaluations_run_id_id", "run_id", "id"),
        Index("ix_evaluations_state", "state"),
        Index("ix_evaluations_dataset_id", "dataset_id"),
        _TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id", ondelete="SET NULL"))
    dataset_name: Mapped[str | None] = mapped_column(NulFreeString(200))  # kept when deleted
    text: Mapped[str | None] = mapped_column(NulFreeText)  # pasted text (no dataset)
    checkpoint: Mapped[str] = mapped_column(String(16))  # latest (ckpt.pt) or best (best.pt)
    state: Mapped[str] = mapped_column(String(16))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    failure_reason: Mapped[str | None] = mapped_column(String(16))
    failure_message: Mapped[str | None] = mapped_column(NulFreeText)
    iter: Mapped[int | None] = mapped_column(Integer)  # the scored checkpoint's iteration
    loss: Mapped[float | None] = mapped_column(Float)  # nats per token
    perplexity: Mapped[float | None] = mapped_column(Float)
    bits_per_char: Mapped[float | None] = mapped_column(Float)
    tokens: Mapped[int | None] = mapped_column(BigInteger)  # tokens predicted
    characters: Mapped[int | None] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker_id: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None]
    woken_at: Mapped[datetime | None]  # the lease's last wake-up (app.store.lease)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class Sample(Base):
    """Text generated from one of a run's checkpoints, with everything needed to make it
    again: the prompt, the options, the seed and the checkpoint's iteration."""

    __tablename__ = "samples"
    __table_args__ = (Index("ix_samples_run_id_id", "run_id", "id"), _TABLE_ARGS)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    checkpoint: Mapped[str] = mapped_column(String(64))
    iter: Mapped[int | None] = mapped_column(Integer)
    prompt: Mapped[str] = mapped_column(NulFreeText)
    completion: Mapped[str] = mapped_column(NulFreeText)
    max_new_tokens: Mapped[int] = mapped_column(Integer)
    temperature: Mapped[float] = mapped_column(Float)
    top_k: Mapped[int | None] = mapped_column(Integer)
    top_p: Mapped[float | None] = mapped_column(Float)
    seed: Mapped[int] = mapped_column(BigInteger)
    stop_at_eot: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Deployment(Base):
    """This studio's id, also written to the data directory: a worker whose data directory
    holds another id (or none) is looking at another folder and refuses to start."""

    __tablename__ = "deployment"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
