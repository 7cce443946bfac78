"""A run's requests (create, resume, clone) and its answer (docs/api.md, Runs); a dry run's
answer is in `run_plans.py`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.api.schemas.common import MAX_ITERS, GivenName, RowId, StrictBody
from app.api.schemas.datasets import TOKENIZER_NAME, VOCAB_SIZE, Tokenizer
from app.planning.routing import CPU_QUEUE
from app.planning.run_config import DEFAULT_PRESET
from app.store.models import Run
from app.store.states import RunState
from worker.engine.config.presets import PRESET_DESCRIPTIONS, PRESETS, preset_config
from worker.engine.config.train_config import INT_MAXIMA, TrainConfig
from worker.engine.config.warnings import ConfigWarning, schedule_warnings
from worker.engine.errors import EngineError

GpuCount = Annotated[int, Field(ge=1, le=64)]
GpuIndex = Annotated[int, Field(ge=0, le=1023)]
GPUS_DOC = (
    "CUDA GPUs for the run: a count, or a list of CUDA indices on the host; one DDP process "
    "(torchrun) per GPU, on one host. The run waits until a worker with that many free GPUs "
    "takes it"
)
PROCESSES_DOC = (
    "DDP processes (torchrun ranks): with gpus, one per GPU; with device cpu, that many gloo "
    "processes; gradient_accumulation_steps must be a multiple of it"
)


class Devices(BaseModel):
    """What a run asks for (app.planning.routing)."""

    kind: Literal["cuda", "cpu", "auto"]
    count: int = Field(description="GPUs (0: none asked for)")
    indices: list[int] | None
    processes: int


class Placement(BaseModel):
    """Where the run's attempt runs (or last ran)."""

    host: str
    worker: str = Field(description="The worker's name in /system")
    devices: list[str] = Field(description="cuda:<host index> ..., or cpu")
    gpus: list[int] = Field(description="The same GPUs as the worker's devices number them")
    processes: int


State = Literal["preparing", "queued", "running", "succeeded", "failed", "cancelled", "pruned"]
Phase = Literal["starting", "compiling", "evaluating", "training"]
Reason = Literal["config", "data", "oom", "diverged", "disk_full", "worker_lost", "internal"]


STRICT = (
    "Refuse the run (422 unaccepted_warnings) when the checks warn (a schedule that does not "
    "fit max_iters, memory close to the device's) instead of starting it with `warnings` in "
    "the answer"
)


class PlanWarning(BaseModel):
    code: str = Field(description="schedule or memory; no_worker on a created run")
    field: str
    message: str


BUDGET_DOC = (
    'A wall time for the whole run ("90s", "20m", "2h", "1d" or seconds; 10 s to '
    "30 days): the planner chooses the arch, depth and width, batch, block and iterations "
    "from the device's speed and the data's size, and a warmup-stable-decay schedule that "
    "ends at the deadline. Every knob set in config is kept; the dry run shows the plan "
    "and why"
)


class RunCreate(StrictBody):
    dataset_id: RowId
    tokenizer: Tokenizer = "char"
    vocab_size: int | None = VOCAB_SIZE
    val_fraction: float = Field(default=0.1, gt=0.0, lt=1.0)
    preset: str | None = Field(
        default=None,
        description=", ".join(PRESETS) + f" (GET /presets). With none, the config is applied "
        f"over {DEFAULT_PRESET} ({PRESET_DESCRIPTIONS[DEFAULT_PRESET]}), not over nanoGPT's "
        "GPT-2 124M defaults",
    )
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="TrainConfig fields, applied over the preset. Floats must be finite; "
        "integers at most: " + ", ".join(f"{k} {v:,}" for k, v in INT_MAXIMA.items()),
    )
    name: GivenName | None = None
    gpus: GpuCount | list[GpuIndex] | None = Field(default=None, description=GPUS_DOC)
    processes: GpuCount | None = Field(default=None, description=PROCESSES_DOC)
    strict: bool = Field(default=False, description=STRICT)
    # checked by the planner (one message for every wrong value, as the CLI and the form
    # get it), so typed here only for the schema
    budget: Any = Field(
        default=None,
        description=BUDGET_DOC,
        examples=["90s", "20m", "2h", 600],
        json_schema_extra={"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "null"}]},
    )


class RunResume(StrictBody):
    max_iters: int | None = Field(
        default=None, ge=1, le=MAX_ITERS, description="Train on to this iteration"
    )
    gpus: GpuCount | list[GpuIndex] | None = Field(
        default=None, description=GPUS_DOC + "; the run's own when neither this nor processes"
    )
    processes: GpuCount | None = Field(
        default=None,
        description=PROCESSES_DOC + "; a checkpoint of N processes resumes on any number "
        "(exactly on the same curve only on N)",
    )


class RunClone(StrictBody):
    name: GivenName | None = None
    dataset_id: RowId | None = None
    tokenizer: Tokenizer | None = None
    vocab_size: int | None = VOCAB_SIZE
    val_fraction: float | None = Field(default=None, gt=0.0, lt=1.0)
    config: dict[str, Any] = Field(default_factory=dict, description="Overrides of the config")
    gpus: GpuCount | list[GpuIndex] | None = Field(
        default=None, description=GPUS_DOC + "; the source's when neither this nor processes"
    )
    processes: GpuCount | None = Field(default=None, description=PROCESSES_DOC)
    strict: bool = Field(default=False, description=STRICT)


class RunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    dataset_id: int | None
    tokenizer: str = Field(description=TOKENIZER_NAME)
    val_fraction: float
    preset: str | None
    config: dict[str, Any] = Field(description="The full TrainConfig")
    state: State
    failure_reason: Reason | None
    failure_message: str | None
    cancel_requested: bool
    iter: int
    max_iters: int
    progress: float = Field(description="iter / max_iters, 0..1")
    best_val_loss: float | None = Field(description="In nats per token of the run's tokenizer")
    best_val_bpc: float | None = Field(
        description="The best val loss in bits per character of the text: the figure runs "
        "with different tokenizers compare by; null until an evaluation could say"
    )
    last_train_loss: float | None
    last_val_loss: float | None
    tokens_per_sec: float | None
    mfu: float | None
    eta_s: float | None
    device: str | None
    compile: str | None = Field(
        description="torch.compile as the run's process has it: on, off, or \"failed: "
        '<reason>" when compiling failed at its first compiled step and the run went on in '
        "eager mode; null until its process starts"
    )
    phase: Phase | None = Field(
        description="While running: starting (loading torch and the data), compiling, "
        "evaluating (iteration 0) or training; null otherwise"
    )
    devices: Devices | None = Field(description="GPUs / processes asked for; null: one process")
    queue: str = Field(description="The train queue that holds it: train, or train.cuda.<N>")
    placement: Placement | None = Field(description="Host and devices it runs (or ran) on")
    attempts: int
    queue_position: int | None = Field(
        description="1 = next to start on its queue (first queued, first started); only "
        "while queued and able to start"
    )
    waiting_for: str | None = Field(
        description="While queued, when no live worker consumes its queue: what it waits for, "
        'e.g. "a worker with 2 GPUs; none of the 3 live workers has more than 1". It starts '
        "once such a worker joins"
    )
    created_at: datetime
    queued_at: datetime | None = Field(
        description="When it joined its queue: its place there, kept when it is put back"
    )
    started_at: datetime | None
    finished_at: datetime | None
    warnings: list[PlanWarning] = Field(
        description="What the checks warn about in this run: in the answer that created it, "
        "the schedule's and the memory guard's; later, the schedule's (from config)"
    )


def present_run(
    run: Run,
    positions: dict[int, int],
    bpcs: dict[int, float],
    waiting: dict[int, str] | None = None,
    warnings: list[ConfigWarning] | None = None,
) -> RunOut:
    """A run as the API shows it; `positions` from `app.store.run_queries.queue_positions`,
    `bpcs` from `app.store.run_queries.best_val_bpcs`, `waiting` from
    `app.planning.waiting.waiting_reasons`; `warnings` the plan's when it was just created
    (else its config's schedule warnings)."""
    if warnings is None:
        warnings = config_warnings(run.config)
    return RunOut.model_validate(
        {
            **{c: getattr(run, c) for c in RunOut.model_fields if hasattr(run, c)},
            "progress": min(1.0, run.iter / run.max_iters) if run.max_iters else 0.0,
            "queue_position": positions.get(run.id),
            "best_val_bpc": bpcs.get(run.id),
            "waiting_for": (waiting or {}).get(run.id),
            "phase": (run.phase or "starting") if run.state == "running" else None,
            "warnings": [w.to_dict() for w in warnings],
        }
    )


def config_warnings(config: dict[str, Any]) -> list[ConfigWarning]:
    """A stored config's schedule warnings (none for a config this version cannot read)."""
    try:
        return schedule_warnings(TrainConfig.from_mapping(config))
    except EngineError:
        return []


def present_created(
    run: Run,
    positions: dict[int, int],
    bpcs: dict[int, float],
    waiting_for: str | None,
    warnings: list[ConfigWarning],
) -> RunOut:
    """The created run with its plan's warnings, and no_worker when no live worker consumes
    its queue (`waiting_for`, from `app.planning.waiting`: also set on a run still preparing,
    whose queue is known). Nothing to accept: it stays queued until such a worker joins."""
    queued = waiting_for is not None and run.state == RunState.QUEUED  # as GET shows it
    out = present_run(run, positions, bpcs, {run.id: waiting_for} if queued else {}, warnings)
    if waiting_for:
        out.warnings.append(
            PlanWarning(
                code="no_worker",
                field="queue" if run.queue == CPU_QUEUE else "gpus",
                message=f"no live worker can take this run now: it waits for {waiting_for}",
            )
        )
    return out


class RunList(BaseModel):
    items: list[RunOut]
    total: int
    limit: int
    offset: int


class PresetOut(BaseModel):
    name: str
    description: str
    config: dict[str, Any]


def present_presets() -> list[PresetOut]:
    """The named starting points and the full config each gives (paths are the service's)."""
    out = []
    for name, description in PRESET_DESCRIPTIONS.items():
        config = preset_config(name).to_dict()
        for key in ("data_dir", "out_dir"):
            config.pop(key, None)
        out.append(PresetOut(name=name, description=description, config=config))
    return out
