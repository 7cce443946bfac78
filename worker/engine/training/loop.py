"""The training loop: nanoGPT's train.py as a function with a typed config and callbacks."""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from worker.engine.checkpoints.files import BEST, LATEST, save_checkpoint
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
from worker.engine.errors import ConfigError, DivergedError
from worker.engine.events import (
    CheckpointEvent,
    CheckpointKind,
    StartInfo,
    StepEvent,
    TrainCallbacks,
    TrainResult,
    TrainStatus,
)
from worker.engine.training.bits_per_char import val_bits_per_character
from worker.engine.training.distributed import (
    RankGroup,
    from_env,
    rank_device,
    rng_states,
    seed_rank,
    steps_per_rank,
)
from worker.engine.training.early_stop import (
    early_stop_message,
    patience_ran_out,
    record_evaluation,
)
from worker.engine.training.schedule import learning_rate_at
from worker.engine.training.state import TrainingState, build_training_state, checkpoint_payload


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


class _EvaluationStoppedError(Exception):
    """should_stop() said yes in the middle of an evaluation."""


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
        self.group, self.master = group, group.ranks.is_master
        self.world_size = group.ranks.world_size
        self.micro_steps = micro_steps  # this rank's share of gradient_accumulation_steps
        self.tokenizer_meta = meta["tokenizer"]
        self.meta = meta  # its tokens per character turn a val loss into bits per character
        self.out_dir = Path(cfg.out_dir)
        # Evaluation (rank 0 alone) calls the model itself: DDP's forward would wait on the
        # other ranks. Training steps go through DDP, wrapped around the compiled model.
        self.eval_model: Any = torch.compile(state.model) if runtime.compile else state.model
        self.model: Any = group.wrap(self.eval_model)
        self.rank_rngs: list[dict[str, Any]] = []  # every rank's, gathered before a checkpoint
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
        # Evaluation scores windows spread evenly over each split: the same ones every time
        # (comparable numbers), a low-variance estimate, and no draw from the training stream.
        self.eval_batches = {s: sampler(s, None) for s in SPLITS}
        self.last_val_loss: float | None = None
        self.last_loss: float | None = None
        self.saved_iter: int | None = None  # iteration of the newest ckpt.pt written
        # A logged step whose evaluation comes next: reported with it, as one event.
        self.pending_step: StepEvent | None = None
        self.micro_stops = micro_steps > 1

    def _eval_due(self, it: int) -> bool:
        cfg = self.cfg
        due = it % cfg.eval_interval == 0 or it == cfg.max_iters
        return due and self.state.last_eval_iter != it

    def run(self) -> TrainResult:
        cfg, state, runtime = self.cfg, self.state, self.runtime
        start_iter = state.iter_num
        ranks = f" on {self.world_size} processes" if self.world_size > 1 else ""
        if self.master:
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
        # The state before drawing a batch is what a checkpoint must store, because the
        # batch for the next step is drawn (prefetched) before the checkpoint is written.
        rng_before_batch = state.data_rng.get_state()
        x, y = self.train_batches.next()
        started = time.perf_counter()
        timer, iters_timed, dt_avg, logs_seen = started, 0, None, 0
        eval_seconds = 0.0
        loss: torch.Tensor | None = None
        while True:
            it = state.iter_num
            lr = learning_rate_at(it, cfg)
            for group in state.optimizer.param_groups:
                group["lr"] = lr * group.get("lr_scale", 1.0)  # Muon + AdamW: per-role rates
            stopped_in_eval = False
            if self._eval_due(it):
                t_eval = time.perf_counter()
                # every rank's RNGs, for the checkpoint the evaluation may write
                self.rank_rngs = self.group.gather_rngs(
                    rng_states(rng_before_batch, runtime.device)
                )
                try:
                    if self.master:
                        self._evaluate(lr, rng_before_batch)
                    else:
                        state.last_eval_iter = it  # so every rank agrees on what is due
                except _EvaluationStoppedError:  # in the middle of it: the state is as before it
                    stopped_in_eval = True
                eval_seconds = time.perf_counter() - t_eval
                timer, iters_timed = time.perf_counter(), 0  # evaluation is not step time
                if cfg.eval_only and not stopped_in_eval:
                    return self._result("completed")
                # only rank 0 evaluates, so it decides; every rank stops at the same step
                patience_over = self.master and not stopped_in_eval and it < cfg.max_iters
                if self.group.agree(patience_over and patience_ran_out(state, cfg)):
                    message = early_stop_message(state, cfg)
                    if self.master:
                        self.callbacks.on_message(message)
                    self._save_latest(rng_before_batch)
                    return self._result("early_stopped", message)
            # Every rank stops at the same step when any is asked to (cancel reaches rank 0,
            # a signal may reach any); with one process this is the callback's answer.
            asked = stopped_in_eval or (it < cfg.max_iters and self.callbacks.should_stop())
            if self.group.agree(asked):
                return self._stop(it, rng_before_batch, loss)
            if it >= cfg.max_iters:
                self._save_latest(rng_before_batch)
                return self._result("completed")

            # A long iteration (many micro-steps) can be left between two of them: the
            # weights have not moved yet, and the RNGs go back to where the iteration began,
            # so a resume redoes it exactly.
            rngs_at_start = (rng_before_batch, device_rngs(runtime)) if self.micro_stops else None
            iteration_began = time.perf_counter()
            for micro in range(self.micro_steps):
                if (
                    rngs_at_start is not None
                    and micro
                    and self.group.agree(self._long_since(iteration_began))
                ):
                    state.optimizer.zero_grad(set_to_none=True)
                    set_device_rngs(runtime, rngs_at_start[1])
                    return self._stop(it, rngs_at_start[0], None)
                # DDP averages gradients over the ranks on the last micro-step only
                with self._sync_unless(micro < self.micro_steps - 1):
                    with runtime.autocast(), self.attention_kernel():
                        _, loss = self.model(x, y)
                        assert loss is not None
                        loss = loss / self.micro_steps  # mean over micro-steps (and ranks: DDP)
                    # draw the next batch while the device works through this backward pass
                    rng_before_batch = state.data_rng.get_state()
                    x, y = self.train_batches.next()
                    state.scaler.scale(loss).backward()
            if cfg.grad_clip > 0.0:
                state.scaler.unscale_(state.optimizer)
                torch.nn.utils.clip_grad_norm_(state.model.parameters(), cfg.grad_clip)
            state.scaler.step(state.optimizer)
            state.scaler.update()
            state.optimizer.zero_grad(set_to_none=True)
            state.iter_num += 1
            iters_timed += 1

            if state.iter_num % cfg.log_interval == 0 or state.iter_num == cfg.max_iters:
                # .item() waits for the device, so only here, once per log interval
                lossf = float(loss.item()) * self.micro_steps
                # every rank stops on a loss gone bad, so none waits for the others forever
                if self.group.agree(not math.isfinite(lossf)):
                    self._check_finite(math.nan if math.isfinite(lossf) else lossf, it + 1)
                if not self.master:
                    continue
                now = time.perf_counter()
                dt = (now - timer) / iters_timed
                # The first interval holds warm-up (and compilation): the average starts
                # afresh at the second, then smooths as nanoGPT's running MFU does.
                logs_seen += 1
                dt_avg = dt if dt_avg is None or logs_seen <= 2 else 0.9 * dt_avg + 0.1 * dt
                timer, iters_timed = now, 0
                self._log(lossf, lr, dt, dt_avg, now - started, eval_seconds)

    def _sync_unless(self, accumulating: bool) -> contextlib.AbstractContextManager[object]:
        """DDP's no_sync while gradients only accumulate; a no-op with one process."""
        if accumulating and self.world_size > 1:
            return self.model.no_sync()
        return contextlib.nullcontext()

    def _long_since(self, began: float) -> bool:
        """In a phase that has run STOP_POLL_AFTER_S already: is a stop asked for? Short
        phases are not interrupted (polling costs, and tiny steps end soon anyway)."""
        return time.perf_counter() - began > STOP_POLL_AFTER_S and self.callbacks.should_stop()

    def _stop(
        self, it: int, rng_before_batch: torch.Tensor, loss: torch.Tensor | None
    ) -> TrainResult:
        if loss is not None and self.master:
            self._check_finite(float(loss.item()) * self.micro_steps, it)
        if self.pending_step is not None:  # its evaluation was cut short
            self.callbacks.on_step(self.pending_step)
            self.pending_step = None
        if self.master:
            self.callbacks.on_message(f"stopping at iteration {it}; checkpoint saved")
        self._save_latest(rng_before_batch)
        return self._result("stopped")

    def _log(
        self, lossf: float, lr: float, dt: float, dt_avg: float, elapsed: float, eval_s: float
    ) -> None:
        cfg, it = self.cfg, self.state.iter_num
        self.last_loss = lossf
        mfu = None
        if self.runtime.peak_flops:  # all ranks' work over all ranks' peak
            mfu = self.flops_per_iter / dt_avg / (self.runtime.peak_flops * self.world_size)
        remaining = cfg.max_iters - it
        evals_left = remaining // cfg.eval_interval + 1
        event = StepEvent(
            iter=it,
            lr=lr,
            loss=lossf,
            tokens_per_sec=cfg.tokens_per_iter / dt,
            mfu=mfu,
            elapsed_s=elapsed,
            eta_s=remaining * dt_avg + evals_left * eval_s,
            memory_bytes=memory_in_use(self.runtime.device),
            dt_ms=dt * 1000,
        )
        if self._eval_due(it):
            self.pending_step = event  # the evaluation at the top of the next iteration
        else:
            self.callbacks.on_step(event)
        mfu_text = f", mfu {mfu * 100:.2f}%" if mfu is not None else ""
        self.callbacks.on_message(f"iter {it}: loss {lossf:.4f}, time {dt * 1000:.2f}ms{mfu_text}")

    @torch.no_grad()
    def _evaluate(self, lr: float, rng_before_batch: torch.Tensor) -> None:
        cfg, state = self.cfg, self.state
        self.model.eval()
        losses: dict[str, float] = {}
        began = time.perf_counter()
        for split, batches in self.eval_batches.items():
            total = torch.zeros((), device=self.runtime.device)
            for x, y in batches.spaced(cfg.eval_iters):
                if self._long_since(began):  # an evaluation can be long: stop in it
                    self.model.train()
                    raise _EvaluationStoppedError
                with self.runtime.autocast(), self.attention_kernel():
                    _, loss = self.eval_model(x, y)
                assert loss is not None
                total += loss.float()
            losses[split] = float(total.item()) / cfg.eval_iters
        self.model.train()
        it = state.iter_num
        step, self.pending_step = self.pending_step, None
        if step is None or step.iter != it:
            if step is not None:
                self.callbacks.on_step(step)
            step = StepEvent(iter=it, lr=lr)
        if not all(math.isfinite(v) for v in losses.values()):
            if step.logged:
                self.callbacks.on_step(step)  # the step itself was sound
            for value in losses.values():
                self._check_finite(value, it)
        state.last_eval_iter = it
        self.last_val_loss = losses["val"]
        self.callbacks.on_step(
            replace(
                step,
                val_loss=losses["val"],
                eval_train_loss=losses["train"],
                val_bpc=val_bits_per_character(losses["val"], self.meta),
            )
        )
        self.callbacks.on_message(
            f"step {it}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}"
        )
        improved = losses["val"] < state.best_val_loss
        if improved:
            state.best_val_loss = losses["val"]
        record_evaluation(state, cfg, losses["val"])  # before the checkpoints that keep it
        if it == 0 or cfg.eval_only:
            return  # nothing learned yet (or nothing to keep): no checkpoint
        if improved or cfg.always_save_checkpoint:
            self._save(LATEST, "latest", rng_before_batch)
        if improved:
            self._save(BEST, "best", rng_before_batch)

    def _save_latest(self, rng_before_batch: torch.Tensor) -> None:
        """Keep the run's end state, unless the evaluation at this iteration just did."""
        if self.state.iter_num == 0:
            return
        # every rank gets here together; only rank 0 knows whether an evaluation just saved
        self.rank_rngs = self.group.gather_rngs(rng_states(rng_before_batch, self.runtime.device))
        if self.master and self.saved_iter != self.state.iter_num:
            self._save(LATEST, "latest", rng_before_batch)

    def _save(self, name: str, kind: CheckpointKind, rng_before_batch: torch.Tensor) -> None:
        # A checkpoint's val loss is the one measured at its iteration; one written between
        # evaluations (a stop, the end) has none rather than an older one's.
        measured = self.state.last_eval_iter == self.state.iter_num
        val_loss = self.last_val_loss if measured else None
        payload = checkpoint_payload(
            self.state,
            self.cfg,
            self.runtime,
            tokenizer_meta=self.tokenizer_meta,
            data_rng_state=rng_before_batch,
            val_loss=val_loss,
        )
        if self.world_size > 1:  # exact resume on as many ranks: each rank's own streams
            payload["resume"].update(world_size=self.world_size, ranks=self.rank_rngs[1:])
        path = self.out_dir / name
        self.callbacks.before_checkpoint(self.state.iter_num)
        size = save_checkpoint(payload, path)
        if kind == "latest":
            self.saved_iter = self.state.iter_num
        self.callbacks.on_checkpoint(
            CheckpointEvent(self.state.iter_num, path, kind, val_loss, size)
        )

    def _check_finite(self, value: float, it: int) -> None:
        if math.isfinite(value):
            return
        latest = self.out_dir / LATEST
        if latest.exists():
            at = f" (iteration {self.saved_iter})" if self.saved_iter is not None else ""
            kept = f"the last good checkpoint{at} was kept, nothing from after it"
        else:
            kept = "no checkpoint had been written yet, so there is nothing to resume"
        raise DivergedError(
            f"the loss became {value} at iteration {it}; training stopped and {kept} "
            "(try a lower learning_rate or a grad_clip)",
            field="learning_rate",
        )

    def _result(self, status: TrainStatus, message: str | None = None) -> TrainResult:
        latest = self.out_dir / LATEST
        return TrainResult(
            status=status,
            iter_num=self.state.iter_num,
            best_val_loss=self.state.best_val_loss,
            last_loss=self.last_loss,
            checkpoint=latest if latest.exists() else None,
            message=message,
        )
