"""The training loop: nanoGPT's train.py as a function with a typed config and callbacks."""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from typing import Any

import torch

from worker.engine.config.preflight import preflight
from worker.engine.config.train_config import TrainConfig
from worker.engine.data.batches import BatchSampler
from worker.engine.data.prepare import SPLITS, Split, read_meta, token_memmap
from worker.engine.device import (
    Runtime,
    attention_kernel,
    device_rngs,
    memory_in_use,
    resolve_runtime,
    set_device_rngs,
)
from worker.engine.errors import ConfigError
from worker.engine.events import (
    StartInfo,
    StepEvent,
    StepReporter,
    TrainCallbacks,
    TrainResult,
    TrainStatus,
)
from worker.engine.training.bits_per_char import val_bits_per_character
from worker.engine.training.compile_fallback import CompiledModel
from worker.engine.training.distributed import (
    RankGroup,
    from_env,
    rank_device,
    seed_rank,
    steps_per_rank,
)
from worker.engine.training.early_stop import (
    early_stop_message,
    patience_ran_out,
    record_evaluation,
)
from worker.engine.training.evaluation import EvaluationStoppedError, Evaluator
from worker.engine.training.run_checkpoints import RunCheckpoints
from worker.engine.training.schedule import learning_rate_at
from worker.engine.training.state import TrainingState, build_training_state
from worker.engine.training.step_clock import Lap, StepClock


def train(cfg: TrainConfig, callbacks: TrainCallbacks | None = None) -> TrainResult:
    """Train (or resume) a GPT on cfg.data_dir, checkpointing into cfg.out_dir.

    Under torchrun (RANK/WORLD_SIZE set) this process is one rank of a DDP run, as in
    nanoGPT: the global gradient_accumulation_steps is split between the ranks."""
    callbacks = callbacks or TrainCallbacks()
    ranks = from_env()
    micro_steps = steps_per_rank(cfg.gradient_accumulation_steps, ranks.world_size)
    if ranks.several and cfg.eval_only:
        raise ConfigError("eval_only evaluates on one process; run it alone", field="eval_only")
    meta = read_meta(cfg.data_dir)
    preflight(cfg, meta)
    runtime = resolve_runtime(rank_device(cfg.device, ranks), cfg.dtype, cfg.compile)
    group = RankGroup(ranks, runtime.device)
    try:
        state = build_training_state(cfg, runtime, int(meta["vocab_size"]))
        seeded = seed_rank(
            ranks=ranks,
            seed=cfg.seed,
            iter_num=state.iter_num,
            data_rng=state.data_rng,
            saved=state.saved_resume,
            device=runtime.device,
        )
        if seeded == "fresh" and state.iter_num:
            callbacks.on_message(f"rank {ranks.rank}: new random streams (another world size)")
        return _Loop(cfg, callbacks, runtime, state, meta, group, micro_steps).run()
    finally:
        group.close()


# A stop asked for during an evaluation, or between the micro-steps of one iteration, is
# noticed once the phase has run this long: a cancel reaches every phase within about a
# second (a single forward/backward pass cannot be interrupted).
STOP_POLL_AFTER_S = 0.5


@dataclass(frozen=True)
class _Exit:
    """Why the loop ends: the run's status, and whether its end state is checkpointed."""

    status: TrainStatus
    message: str | None = None  # why, for an early stop
    keep_latest: bool = True  # an eval_only run keeps nothing


class _Loop:
    """One run's loop; its fields are what survives between iterations."""

    def __init__(
        self,
        cfg: TrainConfig,
        callbacks: TrainCallbacks,
        runtime: Runtime,
        state: TrainingState,
        meta: dict[str, Any],
        group: RankGroup,
        micro_steps: int,
    ) -> None:
        self.cfg, self.callbacks, self.runtime, self.state = cfg, callbacks, runtime, state
        self.steps = StepReporter(callbacks)
        self.group, self.master = group, group.ranks.is_master
        self.world_size = group.ranks.world_size
        self.micro_steps = micro_steps  # this rank's share of gradient_accumulation_steps
        self.meta = meta  # its tokens per character turn a val loss into bits per character
        self.compiled = CompiledModel(state.model, runtime, group, callbacks)
        self.attention_kernel = attention_kernel(runtime, cfg.block_size)
        # counted once: summing every parameter's size at each log line is wasted work
        self.flops_per_iter = state.model.flops_per_token() * cfg.tokens_per_iter

        def sampler(split: Split, generator: torch.Generator | None) -> BatchSampler:
            return BatchSampler(
                token_memmap(cfg.data_dir, split),
                batch_size=cfg.batch_size,
                block_size=cfg.block_size,
                device=runtime.device,
                generator=generator,
            )

        self.train_batches = sampler("train", state.data_rng)
        self.evaluator = Evaluator(
            {s: sampler(s, None) for s in SPLITS},
            cfg.eval_iters,
            runtime,
            self.compiled.evaluate,
            self.attention_kernel,
        )
        self.checkpoints = RunCheckpoints(cfg, callbacks, runtime, state, group, meta["tokenizer"])
        self.last_loss: float | None = None
        self.micro_stops = micro_steps > 1
        self.step_loss: torch.Tensor | None = None  # the last step's, still on the device
        self.evaluation_cut_short = False  # by a stop: the run ends at this iteration
        self._out_of_time = False  # the time budget is spent: evaluate and end
        # The state before drawing a batch is what a checkpoint must store, because the
        # batch for the next step is drawn (prefetched) before the checkpoint is written.
        self.rng_before_batch = state.data_rng.get_state()
        self.batch = self.train_batches.next()

    def run(self) -> TrainResult:
        self._announce()
        self.clock = StepClock()  # started after on_start, which may write to a database
        spent_before = self.state.budget_spent_s  # by the run's earlier starts
        while True:
            self._out_of_time = self._spend_budget(spent_before)
            lr = self._set_learning_rate()
            end = (
                self._evaluate_if_due(lr)
                or self._stop_if_asked()
                or self._end_at_max_iters()
                or self._step()  # None, unless a stop left it between two micro-steps
            )
            if end is not None:
                return self._end(end)
            self._log_if_due(lr)

    # --- start ---
    def _announce(self) -> None:
        if not self.master:
            return
        cfg, state, runtime = self.cfg, self.state, self.runtime
        start_iter = state.iter_num
        ranks = f" on {self.world_size} processes" if self.world_size > 1 else ""
        self.callbacks.on_start(
            StartInfo(
                device=runtime.device,
                device_name=runtime.device_name,
                dtype=runtime.dtype,
                compile=runtime.compile,
                n_params=state.model.num_params(),
                tokens_per_iter=cfg.tokens_per_iter,
                start_iter=start_iter,
                max_iters=cfg.max_iters,
            )
        )
        self.callbacks.on_message(
            f"{state.model.num_params() / 1e6:.2f}M parameters on {runtime.device_name}"
            f"{ranks}, {runtime.dtype}{', compiled' if runtime.compile else ''}; "
            f"{cfg.tokens_per_iter:,} tokens per iteration"
            + (f"; resuming at iteration {start_iter}" if start_iter else "")
        )

    def _spend_budget(self, spent_before: float) -> bool:
        """With a time budget: count the seconds spent, and say whether the budget is out.
        The spent time counts the final evaluation ahead (as long as the last one took), so
        the run ends in time for it."""
        if self.cfg.time_budget_s <= 0:
            return False
        elapsed = time.perf_counter() - self.clock.started
        self.state.budget_spent_s = spent_before + elapsed
        if not self.group.agree(self._budget_spent() >= self.cfg.time_budget_s):
            return False
        # spent, with the final evaluation: a resume of this checkpoint has nothing left
        self.state.budget_spent_s = max(self.state.budget_spent_s, self.cfg.time_budget_s)
        return True

    def _budget_spent(self) -> float:
        return self.state.budget_spent_s + self.clock.eval_s

    def _set_learning_rate(self) -> float:
        lr = learning_rate_at(self.state.iter_num, self.cfg, self._budget_spent())
        for group in self.state.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)  # Muon + AdamW: per-role rates
        return lr

    # --- evaluate ---
    def _eval_due(self, it: int) -> bool:
        cfg = self.cfg
        due = it % cfg.eval_interval == 0 or it == cfg.max_iters or self._out_of_time
        return due and self.state.last_eval_iter != it

    def _evaluate_if_due(self, lr: float) -> _Exit | None:
        """Rank 0 evaluates when due (and keeps the checkpoints the scores earn); the scores
        end an eval_only run, or one whose patience ran out."""
        it = self.state.iter_num
        if not self._eval_due(it):
            return None
        began = time.perf_counter()
        self.checkpoints.gather_rngs(self.rng_before_batch)  # for the evaluation's checkpoint
        try:
            if self.master:
                self._evaluate(lr)
            else:
                self.state.last_eval_iter = it  # so every rank agrees on what is due
        except EvaluationStoppedError:  # in the middle of it: the state is as before it
            self.evaluation_cut_short = True
        self.compiled.settle()
        self.clock.evaluated(time.perf_counter() - began)  # evaluation is not step time
        if self.cfg.eval_only and not self.evaluation_cut_short:
            return _Exit("completed", keep_latest=False)
        return self._early_stop_if_patience_ran_out()

    @torch.no_grad()
    def _evaluate(self, lr: float) -> None:
        cfg, state, it = self.cfg, self.state, self.state.iter_num
        self.compiled.model.eval()
        try:
            losses = self.evaluator.score(self._long_since)
        finally:
            self.compiled.model.train()
        if not all(math.isfinite(v) for v in losses.values()):
            self.steps.release()  # the step itself was sound
            for value in losses.values():
                self.checkpoints.check_finite(value, it)
        state.last_eval_iter = it
        bpc = val_bits_per_character(losses["val"], self.meta)
        self.steps.evaluation(it, lr, val_loss=losses["val"], train_loss=losses["train"], bpc=bpc)
        self.callbacks.on_message(
            f"step {it}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}"
        )
        improved = losses["val"] < state.best_val_loss
        if improved:
            state.best_val_loss = losses["val"]
        record_evaluation(state, cfg, losses["val"])  # before the checkpoints that keep it
        self.checkpoints.after_evaluation(losses["val"], improved, self.rng_before_batch)

    def _early_stop_if_patience_ran_out(self) -> _Exit | None:
        state, cfg = self.state, self.cfg
        # only rank 0 evaluates, so it decides; every rank stops at the same step
        patience_over = (
            self.master and not self.evaluation_cut_short and state.iter_num < cfg.max_iters
        )
        if not self.group.agree(patience_over and patience_ran_out(state, cfg)):
            return None
        message = early_stop_message(state, cfg)
        if self.master:
            self.callbacks.on_message(message)
        return _Exit("early_stopped", message)

    # --- stop ---
    def _stop_if_asked(self) -> _Exit | None:
        """Every rank stops at the same step when any is asked to (cancel reaches rank 0, a
        signal may reach any); with one process this is the callback's answer."""
        it = self.state.iter_num
        asked = self.evaluation_cut_short or (
            it < self.cfg.max_iters and not self._out_of_time and self.callbacks.should_stop()
        )
        if not self.group.agree(asked):
            return None
        if self.step_loss is not None and self.master:  # the checkpoint must be sound
            self.checkpoints.check_finite(float(self.step_loss.item()) * self.micro_steps, it)
        return _Exit("stopped")

    def _end_at_max_iters(self) -> _Exit | None:
        """The run is complete at max_iters, or when its time budget is spent."""
        done = self.state.iter_num >= self.cfg.max_iters or self._out_of_time
        return _Exit("completed") if done else None

    def _long_since(self, began: float) -> bool:
        """In a phase that has run STOP_POLL_AFTER_S already: is a stop asked for? Short
        phases are not interrupted (polling costs, and tiny steps end soon anyway)."""
        return time.perf_counter() - began > STOP_POLL_AFTER_S and self.callbacks.should_stop()

    def _end(self, end: _Exit) -> TrainResult:
        self.steps.release()  # a logged step whose evaluation a stop cut short
        if end.keep_latest:
            self.checkpoints.keep_latest(self.rng_before_batch)
        if end.status == "stopped" and self.master:
            self.callbacks.on_message(self._stopped_message())
        return TrainResult(
            status=end.status,
            iter_num=self.state.iter_num,
            best_val_loss=self.state.best_val_loss,
            last_loss=self.last_loss,
            checkpoint=self.checkpoints.latest,
            message=end.message,
        )

    def _stopped_message(self) -> str:
        """What a stop leaves behind, as it is: no "checkpoint saved" where none was."""
        it, saved = self.state.iter_num, self.checkpoints.saved_iter
        if saved == it:
            return f"stopping at iteration {it}; checkpoint saved"
        if self.checkpoints.latest is not None:
            return f"stopping at iteration {it}; the checkpoint kept is an earlier one"
        return f"stopping at iteration {it}; no checkpoint (none is written before iteration 1)"

    # --- step ---
    def _step(self) -> _Exit | None:
        """The next iteration; the first compiled one is a trial (compile_fallback): if
        compiling fails, the state goes back to before it and it runs again in eager mode."""
        if not self.compiled.on_trial:
            return self._iteration()
        before = (self.batch, self.rng_before_batch, self.state.data_rng.get_state())
        device_states = device_rngs(self.runtime)

        def undo() -> None:
            self.state.optimizer.zero_grad(set_to_none=True)
            set_device_rngs(self.runtime, device_states)
            self.batch, self.rng_before_batch, data_rng = before
            self.state.data_rng.set_state(data_rng)

        return self.compiled.first_step(self._iteration, undo)

    def _iteration(self) -> _Exit | None:
        """One iteration: micro_steps forward and backward passes, then the optimizer's step.
        A stop asked for during a long iteration leaves it between two micro-steps."""
        state, runtime = self.state, self.runtime
        at_start = (self.rng_before_batch, device_rngs(runtime)) if self.micro_stops else None
        began = time.perf_counter()
        for micro in range(self.micro_steps):
            if at_start is not None and micro and self.group.agree(self._long_since(began)):
                return self._undo_iteration(*at_start)
            # DDP averages gradients over the ranks on the last micro-step only
            with self._sync_unless(micro < self.micro_steps - 1):
                with runtime.autocast(), self.attention_kernel():
                    _, loss = self.compiled.model(*self.batch)
                    assert loss is not None
                    loss = loss / self.micro_steps  # mean over micro-steps (and ranks: DDP)
                # draw the next batch while the device works through this backward pass
                self.rng_before_batch = state.data_rng.get_state()
                self.batch = self.train_batches.next()
                state.scaler.scale(loss).backward()
        self.step_loss = loss
        if self.cfg.grad_clip > 0.0:
            state.scaler.unscale_(state.optimizer)
            torch.nn.utils.clip_grad_norm_(state.model.parameters(), self.cfg.grad_clip)
        state.scaler.step(state.optimizer)
        state.scaler.update()
        state.optimizer.zero_grad(set_to_none=True)
        state.iter_num += 1
        self.clock.stepped()
        return None

    def _undo_iteration(
        self,
        rng_before_batch: torch.Tensor,
        device_rng_states: tuple[torch.Tensor, torch.Tensor | None],
    ) -> _Exit:
        """Leave an iteration between two micro-steps: the weights have not moved yet, and the
        RNGs go back to where the iteration began, so a resume redoes it exactly."""
        self.state.optimizer.zero_grad(set_to_none=True)
        set_device_rngs(self.runtime, device_rng_states)
        self.rng_before_batch = rng_before_batch
        return _Exit("stopped")

    def _sync_unless(self, accumulating: bool) -> contextlib.AbstractContextManager[object]:
        """DDP's no_sync while gradients only accumulate; a no-op with one process."""
        if accumulating and self.world_size > 1:
            return self.compiled.model.no_sync()
        return contextlib.nullcontext()

    # --- log ---
    def _log_if_due(self, lr: float) -> None:
        cfg, it = self.cfg, self.state.iter_num
        if it % cfg.log_interval and it != cfg.max_iters:
            return
        assert self.step_loss is not None
        # .item() waits for the device, so only here, once per log interval
        lossf = float(self.step_loss.item()) * self.micro_steps
        # every rank stops on a loss gone bad, so none waits for the others forever
        if self.group.agree(not math.isfinite(lossf)):
            self.checkpoints.check_finite(math.nan if math.isfinite(lossf) else lossf, it)
        if self.master:
            self._log(lossf, lr, self.clock.lap())

    def _log(self, lossf: float, lr: float, lap: Lap) -> None:
        cfg, it = self.cfg, self.state.iter_num
        self.last_loss = lossf
        mfu = None
        if self.runtime.peak_flops:  # all ranks' work over all ranks' peak
            mfu = self.flops_per_iter / lap.dt_avg / (self.runtime.peak_flops * self.world_size)
        remaining = cfg.max_iters - it
        evals_left = remaining // cfg.eval_interval + 1
        eta_s = remaining * lap.dt_avg + evals_left * lap.eval_s
        if cfg.time_budget_s > 0:  # the deadline comes first, or the last iteration does
            eta_s = min(eta_s, max(0.0, cfg.time_budget_s - self.state.budget_spent_s))
        event = StepEvent(
            iter=it,
            lr=lr,
            loss=lossf,
            tokens_per_sec=cfg.tokens_per_iter / lap.dt,
            mfu=mfu,
            elapsed_s=lap.elapsed_s,
            eta_s=eta_s,
            memory_bytes=memory_in_use(self.runtime.device),
            dt_ms=lap.dt * 1000,
        )
        # evaluated at the top of the next iteration: reported with its scores
        self.steps.step(event, evaluation_follows=self._eval_due(it))
        mfu_text = f", mfu {mfu * 100:.2f}%" if mfu is not None else ""
        self.callbacks.on_message(
            f"iter {it}: loss {lossf:.4f}, time {lap.dt * 1000:.2f}ms{mfu_text}"
        )
