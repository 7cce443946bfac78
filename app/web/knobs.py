"""Every engine knob the run form shows, grouped as the issue asks (data, model, optimiser,
schedule, evaluation, system), with the input each needs. A page test checks that every
TrainConfig field but the ones the service owns is here."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from worker.engine.config.train_config import INT_MAXIMA, LR_SCHEDULE_CHOICES, MAX_TIME_BUDGET_S

Kind = Literal["int", "float", "bool", "choice", "text"]


@dataclass(frozen=True)
class Knob:
    name: str
    label: str
    kind: Kind
    help: str = ""
    choices: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    suggestions: tuple[str, ...] = ()  # a text input's <datalist>

    def form_value(self, value: Any) -> str:
        """The value as the input holds it."""
        if self.kind == "bool":
            return "true" if value else "false"
        if self.name == "compile":
            return {True: "true", False: "false"}.get(value, str(value))
        return "" if value is None else str(value)


@dataclass(frozen=True)
class Group:
    key: str
    title: str
    knobs: tuple[Knob, ...]


GROUPS: tuple[Group, ...] = (
    Group("data", "Data", (
        Knob("batch_size", "Batch size", "int", "Sequences per micro-batch.", min=1),
        Knob("block_size", "Block size", "int", "Context length in tokens.", min=1),
        Knob("gradient_accumulation_steps", "Gradient accumulation", "int",
             "Micro-batches per optimiser step.", min=1),
    )),
    Group("model", "Model", (
        Knob("init_from", "Start from", "text",
             "scratch, a GPT-2 size to fine-tune, or a local GPT-2 folder.",
             suggestions=("scratch", "gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl")),
        Knob("n_layer", "Layers", "int", "Transformer blocks.", min=1),
        Knob("n_head", "Heads", "int", "Attention heads; must divide the width.", min=1),
        Knob("n_embd", "Width (n_embd)", "int", "Size of the residual stream.", min=1),
        Knob("dropout", "Dropout", "float", "0 to pre-train; 0.1–0.2 on small data.", 0, 0.99),
        Knob("bias", "Biases", "bool", "In Linear and LayerNorm layers, as GPT-2 has."),
        Knob("arch", "Architecture", "choice",
             "gpt2: nanoGPT's model. modern: rotary, RMSNorm, QK-norm, ReLU², untied head.",
             choices=("gpt2", "modern")),
    )),
    Group("optimiser", "Optimiser", (
        Knob("optimizer", "Optimizer", "choice",
             "auto: Muon for modern, AdamW for gpt2. Muon: hidden matrices; AdamW the rest.",
             choices=("auto", "adamw", "muon")),
        Knob("learning_rate", "Learning rate", "float", "The peak, after warmup.", min=0),
        Knob("weight_decay", "Weight decay", "float", "On matrices only.", min=0),
        Knob("beta1", "β₁", "float", "Momentum of the gradient average.", 0, 0.9999),
        Knob("beta2", "β₂", "float", "Momentum of the squared-gradient average.", 0, 0.9999),
        Knob("grad_clip", "Gradient clip", "float", "Largest gradient norm; 0 turns it off.", 0),
    )),
    Group("schedule", "Schedule", (
        Knob("max_iters", "Iterations", "int", "Optimiser steps in all.", min=1),
        Knob("decay_lr", "Decay the learning rate", "bool", "Warmup, then cosine decay."),
        Knob("warmup_iters", "Warmup", "int", "Steps of linear warmup.", min=0),
        Knob("lr_decay_iters", "Decay until", "int", "Step where it reaches the minimum.", min=0),
        Knob("min_lr", "Minimum learning rate", "float", "Where the decay ends.", min=0),
        Knob("lr_schedule", "Schedule shape", "choice",
             "cosine (nanoGPT's) or wsd: stable, then a linear warmdown over the last 30%.",
             choices=LR_SCHEDULE_CHOICES),
        Knob("time_budget_s", "Training time limit (s)", "float",
             "Seconds the training loop may run; 0: none. A time budget sets it.", 0,
             MAX_TIME_BUDGET_S),
    )),
    Group("evaluation", "Evaluation & checkpoints", (
        Knob("eval_interval", "Evaluate every", "int", "Steps between evaluations.", min=1),
        Knob("eval_iters", "Evaluation batches", "int", "Batches averaged per split.", min=1),
        Knob("log_interval", "Log every", "int", "Steps between logged train losses.", min=1),
        Knob("always_save_checkpoint", "Save at every evaluation", "bool",
             "Not only when val loss improves."),
        Knob("eval_only", "Evaluate only", "bool", "Evaluate once and stop."),
        Knob("early_stop_patience", "Early-stop patience", "int",
             "Stop after this many evaluations without improvement; 0 is off.", min=0),
        Knob("early_stop_min_delta", "Early-stop minimum gain", "float",
             "A val-loss drop smaller than this is no improvement.", min=0),
    )),
    Group("system", "System", (
        Knob("device", "Device", "text", "auto, cpu, cuda, cuda:N or mps.",
             suggestions=("auto", "cpu", "cuda", "cuda:0", "mps")),
        Knob("dtype", "Precision", "choice", "auto picks bfloat16 where it is fast.",
             choices=("auto", "float32", "bfloat16", "float16")),
        Knob("compile", "torch.compile", "choice", "auto compiles on CUDA.",
             choices=("auto", "true", "false")),
        Knob("seed", "Seed", "int", "Same seed, same run."),
        Knob("wandb_log", "Log to Weights & Biases", "bool", "When wandb is installed."),
        Knob("wandb_project", "W&B project", "text"),
        Knob("wandb_run_name", "W&B run name", "text"),
    )),
)  # fmt: skip


def _bounded(knob: Knob) -> Knob:
    """An integer knob's input stops where the engine does (INT_MAXIMA)."""
    if knob.max is None and knob.name in INT_MAXIMA:
        return replace(knob, max=INT_MAXIMA[knob.name])
    return knob


GROUPS = tuple(Group(g.key, g.title, tuple(_bounded(k) for k in g.knobs)) for g in GROUPS)
KNOBS: dict[str, Knob] = {k.name: k for g in GROUPS for k in g.knobs}


# Shown first, with the preset: what most runs change. The rest is folded (so Start is near
# on a phone), and opens by itself when one of its fields has an error.
BASIC_KNOBS = ("max_iters", "batch_size", "block_size", "n_layer", "n_head", "n_embd",
               "learning_rate", "device")  # fmt: skip


def basic_knobs() -> tuple[Knob, ...]:
    return tuple(KNOBS[name] for name in BASIC_KNOBS)


def advanced_groups(groups: tuple[Group, ...]) -> tuple[Group, ...]:
    """`groups` without the basic knobs (shown above them)."""
    return tuple(
        Group(g.key, g.title, tuple(k for k in g.knobs if k.name not in BASIC_KNOBS))
        for g in groups
    )


def form_groups(service_owned: tuple[str, ...]) -> tuple[Group, ...]:
    """The groups without the knobs the service sets itself (they are not the user's)."""
    return tuple(
        Group(g.key, g.title, tuple(k for k in g.knobs if k.name not in service_owned))
        for g in GROUPS
    )


def knob_meta(groups: tuple[Group, ...]) -> list[dict[str, str]]:
    """What the form script needs to read each input back into a typed value."""
    return [{"name": k.name, "kind": k.kind} for g in groups for k in g.knobs]
