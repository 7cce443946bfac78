"""The vocabularies of the job state machines, shared by the API and the workers."""

from __future__ import annotations

from enum import StrEnum


class RunState(StrEnum):
    PREPARING = "preparing"  # waiting for its dataset to be tokenized
    QUEUED = "queued"  # on the train queue
    RUNNING = "running"  # claimed by a worker; the training process heartbeats
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PRUNED = "pruned"  # a sweep's trial its pruner stopped; its checkpoint is kept


ACTIVE_RUN_STATES = (RunState.PREPARING, RunState.QUEUED, RunState.RUNNING)
FINISHED_RUN_STATES = (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED, RunState.PRUNED)


class SweepState(StrEnum):
    RUNNING = "running"  # trials are queued, running or still to ask for
    SUCCEEDED = "succeeded"  # every trial ended, and at least one was scored
    FAILED = "failed"  # every trial ended and none was scored
    CANCELLED = "cancelled"


class TrialState(StrEnum):
    """A sweep trial as Optuna knows it, from its run's state."""

    RUNNING = "running"
    COMPLETE = "complete"
    PRUNED = "pruned"
    FAILED = "failed"


class RunPhase(StrEnum):
    """What a running run's process is doing, so a page can say it before the first point.
    None (not yet reported) reads as "starting": the process is loading torch and the data."""

    COMPILING = "compiling"  # torch.compile, then the first evaluation
    EVALUATING = "evaluating"  # the evaluation at iteration 0
    TRAINING = "training"  # points are arriving


class DatasetState(StrEnum):
    INSPECTING = "inspecting"  # stored; a job is counting characters and tokens
    READY = "ready"
    FAILED = "failed"  # not usable text; `error` says why


class PrepState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    READY = "ready"
    FAILED = "failed"


class ExportState(StrEnum):
    QUEUED = "queued"  # on the prepare queue
    RUNNING = "running"  # claimed by a worker, which heartbeats while it writes
    READY = "ready"  # the archive is in place
    FAILED = "failed"  # failure_reason and failure_message say why


class EvaluationState(StrEnum):
    QUEUED = "queued"  # on the prepare queue
    RUNNING = "running"  # claimed by a worker, which heartbeats with its progress
    READY = "ready"  # loss, perplexity and bits per character are there
    FAILED = "failed"  # failure_reason and failure_message say why


class FailureReason(StrEnum):
    CONFIG = "config"
    DATA = "data"
    OOM = "oom"
    DIVERGED = "diverged"
    DISK_FULL = "disk_full"
    WORKER_LOST = "worker_lost"
    INTERNAL = "internal"
