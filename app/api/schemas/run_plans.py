"""A dry run's answer (`POST /runs?dry_run=true`): the run as it would be stored, what the
checks knew of the data, the memory guard's estimate and a budget run's plan; nothing stored."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from app.api.schemas.datasets import TOKENIZER_NAME
from app.api.schemas.runs import Devices, PlanWarning
from app.planning.routing import queue_for
from app.planning.run_config import RunPlan, stored_config
from worker.engine.config.memory_guard import MemoryCheck


class DataFacts(BaseModel):
    train_tokens: int | None
    val_tokens: int | None
    vocab_size: int | None = Field(description="Known once the split is prepared")
    exact: bool = Field(description="From the prepared split; else estimated from the upload")


class DeviceOut(BaseModel):
    kind: str
    name: str
    free_bytes: int


class MemoryOut(BaseModel):
    """The memory guard's estimate of one rank's peak, and what it was compared with."""

    params: int = Field(description="The model's parameters, as torch counts them")
    non_embedding_params: int = Field(
        description="Without position embeddings (the modern arch: without the token "
        "embedding), as nanoGPT reports a model's size"
    )
    vocab_size: int = Field(
        description="The vocabulary counted: the prepared split's, else estimated from the "
        "upload; GPT-2's when fine-tuning it"
    )
    estimate_bytes: int = Field(description="state + activations + runtime")
    state_bytes: int = Field(description="fp32 weights, gradients and AdamW moments")
    activation_bytes: int = Field(description="one micro-batch's activations and logits")
    runtime_bytes: int = Field(description="the training process itself")
    device: DeviceOut | None = Field(
        description="The freest matching device of the train workers; null when none reported"
    )


class BudgetOut(BaseModel):
    """What a budget buys (worker.engine.config.budget), as the dry run and the form show it."""

    budget_s: float = Field(description="The whole run's wall time, in seconds")
    params: int = Field(description="The model's parameters as the rule counts them")
    tokens: int = Field(description="Tokens trained on in the expected iterations")
    epochs: float = Field(description="Passes over the train split")
    tokens_per_param: float
    expected_iters: int = Field(description="Iterations the deadline should allow")
    seconds_per_iter: float = Field(description="Predicted from the device's speed")
    speed: str = Field(description="Where the speed comes from")
    reasons: list[str] = Field(description="Why the plan is what it is, in order")


class RunPlanOut(BaseModel):
    """What `?dry_run=true` answers: the run as it would be stored, nothing stored."""

    dry_run: Literal[True] = True
    name: str
    dataset_id: int
    tokenizer: str = Field(description=TOKENIZER_NAME)
    val_fraction: float
    preset: str | None
    config: dict[str, Any] = Field(description="The full TrainConfig, as the run would keep it")
    state: Literal["preparing", "queued"] = Field(description="The state it would start in")
    devices: Devices | None
    queue: str
    data: DataFacts = Field(description="What the checks knew of the data")
    tokens_per_iter: int
    epochs: float | None = Field(description="max_iters × tokens_per_iter / train_tokens")
    warnings: list[PlanWarning] = Field(
        description="Allowed, probably not meant: the real request starts the run with them "
        "(refuses it with strict: true)"
    )
    waiting_for: str | None = Field(
        description="What the run would wait for, when no live worker consumes its queue "
        "(not a warning to accept: a worker may join later); as RunOut's"
    )
    memory: MemoryOut | None
    budget: BudgetOut | None = Field(description="A budget run's plan, and why; else null")


def present_memory(check: MemoryCheck | None) -> MemoryOut | None:
    if check is None:
        return None
    e, d = check.estimate, check.device
    return MemoryOut(
        params=e.params,
        non_embedding_params=e.non_embedding_params,
        vocab_size=e.vocab_size,
        estimate_bytes=e.total_bytes,
        state_bytes=e.state_bytes,
        activation_bytes=e.activation_bytes,
        runtime_bytes=e.runtime_bytes,
        device=DeviceOut(kind=d.kind, name=d.name, free_bytes=d.free_bytes) if d else None,
    )


def present_plan(plan: RunPlan, waiting_for: str | None) -> RunPlanOut:
    """What a dry run answers: the run `plan` would start."""
    tokens = plan.cfg.tokens_per_iter
    train_tokens = plan.meta.get("train_tokens")
    return RunPlanOut(
        name=plan.name,
        dataset_id=plan.dataset.id,
        tokenizer=plan.tokenizer,
        val_fraction=plan.val_fraction,
        preset=plan.preset,
        config=stored_config(plan.cfg),
        state="queued" if plan.prepared else "preparing",
        devices=plan.devices,
        queue=queue_for(plan.devices),
        data=DataFacts(
            train_tokens=train_tokens,
            val_tokens=plan.meta.get("val_tokens"),
            vocab_size=plan.meta.get("vocab_size"),
            exact=plan.exact,
        ),
        tokens_per_iter=tokens,
        epochs=tokens * plan.cfg.max_iters / train_tokens if train_tokens else None,
        warnings=[PlanWarning(**w.to_dict()) for w in plan.warnings],
        waiting_for=waiting_for,
        memory=present_memory(plan.memory),
        budget=BudgetOut(**plan.budget.summary()) if plan.budget else None,
    )
