"""The training process's callbacks: buffer → insert → publish. The training loop only
appends rows to a buffer; a background thread writes them every flush interval in one
transaction with the run's progress and heartbeat (`app.store.run_lease.heartbeat`, and `finish`
at the end: nothing is written once the lease is gone), then publishes each row's event, so
an SSE client replaying the database and following the channel never misses a point. The
same thread watches the cancel flag and notices a dead parent."""

from __future__ import annotations

import dataclasses
import logging
import os
import queue
import threading
import time
from pathlib import Path
from typing import Literal

from app.store import history, run_lease, run_queries
from app.store.lease import Held
from app.store.models import utcnow
from app.store.run_lease import Outcome, Progress
from app.store.settings import Settings
from app.store.states import RunPhase
from worker.engine.events import CheckpointEvent, StartInfo, StepEvent, TrainCallbacks

log = logging.getLogger(__name__)
CANCEL_POLL_S = 0.5
FINAL_WRITE_TRIES = 5

Item = tuple[Literal["metric", "log", "checkpoint"], dict]


class RunReporter(TrainCallbacks):
    def __init__(self, *, run_id: int, owner: str, settings: Settings, log_path: Path) -> None:
        self.run_id, self.owner, self.settings = run_id, owner, settings
        self.log_file = log_path.open("a", encoding="utf-8")
        self.stop_requested = threading.Event()
        self.cancelled = False  # the user asked; False when the lease was lost instead
        self.lease_lost = False
        self.interrupted = False  # SIGTERM/SIGINT: the service is stopping
        self._items: queue.SimpleQueue[Item] = queue.SimpleQueue()
        self._progress: Progress = {}
        self._unwritten = history.Batch()  # drained, but its transaction failed: tried again
        self._chain = history.Chain()  # the last ids published, advanced once committed
        self._flush_lock = threading.Lock()
        self._parent = os.getppid()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="run-reporter", daemon=True)
        self._thread.start()

    # --- callbacks (training thread) ---
    def on_start(self, info: StartInfo) -> None:
        history.forget_after(run_id=self.run_id, iter_num=info.start_iter)
        # A fresh run evaluates iteration 0 first; torch.compile comes before anything.
        phase = RunPhase.COMPILING if info.compile else RunPhase.EVALUATING
        if info.start_iter and not info.compile:
            phase = RunPhase.TRAINING
        self._progress.update(
            device=info.device,
            compile="on" if info.compile else "off",
            max_iters=info.max_iters,
            iter=info.start_iter,
            phase=phase,
        )

    def on_compile_failed(self, reason: str) -> None:
        self._progress["compile"] = f"failed: {reason}"

    def on_step(self, event: StepEvent) -> None:
        self._progress["phase"] = RunPhase.TRAINING
        self._items.put(("metric", history.metric_row(event, utcnow())))
        if event.logged:
            assert event.loss is not None and event.tokens_per_sec is not None
            assert event.eta_s is not None
            self._progress.update(
                iter=event.iter,
                last_train_loss=event.loss,
                tokens_per_sec=event.tokens_per_sec,
                mfu=event.mfu,
                eta_s=event.eta_s,
            )
        if event.val_loss is not None:
            best = self._progress.get("best_val_loss")
            self._progress.update(
                last_val_loss=event.val_loss,
                best_val_loss=event.val_loss if best is None else min(best, event.val_loss),
            )

    def before_checkpoint(self, iter_num: int) -> None:
        # Everything up to the checkpoint is written before the file is: a run resumed from
        # it after a crash then has no hole in its history.
        try:
            self._flush()
        except Exception:
            log.exception("run %s: writing before the checkpoint failed", self.run_id)

    def on_checkpoint(self, event: CheckpointEvent) -> None:
        self._items.put(("checkpoint", history.checkpoint_row(event, utcnow())))
        try:
            self._flush()
        except Exception:
            log.exception("run %s: writing the checkpoint's row failed", self.run_id)

    def on_message(self, line: str) -> None:
        self.log_file.write(line + "\n")
        self.log_file.flush()
        self._items.put(("log", history.log_row(line, utcnow())))

    def should_stop(self) -> bool:
        return self.stop_requested.is_set()

    # --- background thread ---
    def _loop(self) -> None:
        last_beat = last_poll = 0.0
        interval = self.settings.flush_interval_s
        while not self._closing.wait(interval):
            now = time.monotonic()
            try:
                if not self._items.empty() or now - last_beat >= self.settings.heartbeat_interval_s:
                    self._flush()
                    last_beat = now
                if now - last_poll >= CANCEL_POLL_S:
                    self._poll_cancel()
                    last_poll = now
            except Exception:  # a hiccup of the database must not kill the run
                log.exception("run %s: reporting failed; retrying", self.run_id)
            if os.getppid() != self._parent:  # the worker died: stop, leave it to the reaper
                self.lease_lost = True
                self.stop_requested.set()

    def _poll_cancel(self) -> None:
        if run_queries.cancel_requested(self.run_id):
            self.cancelled = True
            self.stop_requested.set()

    def _drain(self) -> history.Batch:
        batch, self._unwritten = self._unwritten, history.Batch()
        while True:
            try:
                kind, row = self._items.get_nowait()
            except queue.Empty:
                return batch
            {"metric": batch.metrics, "log": batch.logs, "checkpoint": batch.checkpoints}[
                kind
            ].append(row)

    def _write(self, outcome: Outcome | None = None) -> Held:
        """Buffer → insert: one transaction. A failed one keeps its rows for the next try."""
        with self._flush_lock:
            batch = self._drain()
            chain = dataclasses.replace(self._chain)
            try:
                if outcome is None:
                    report = run_lease.heartbeat(
                        self.run_id, self.owner, batch=batch, progress=self._progress, chain=chain
                    )
                else:
                    report = run_lease.finish(
                        self.run_id,
                        self.owner,
                        outcome,
                        batch=batch,
                        progress=self._progress,
                        chain=chain,
                    )
            except Exception:
                self._unwritten = batch
                raise
            if report.held:
                self._chain = chain
        if not report.held:
            self.lease_lost = True
            self.stop_requested.set()
        return report

    def _flush(self) -> None:
        self._write().followup.send()  # → publish, once committed

    # --- end (training thread) ---
    def finish(self, outcome: Outcome | None, iter_num: int | None = None) -> None:
        """Write what is left and, unless the lease is gone, how the run ended."""
        self._closing.set()
        self._thread.join()
        if iter_num is not None:
            self._progress["iter"] = iter_num
        if self.lease_lost:
            outcome = None  # the reaper decides what becomes of the run
        if outcome is not None:
            self.on_message(f"this attempt ended: {outcome.cause()}")
        else:
            self.on_message("this attempt ended without an outcome; the reaper decides the rest")
        try:
            for attempt in range(FINAL_WRITE_TRIES):  # the end must land; the database may blink
                try:
                    report = self._write(outcome)
                    break
                except Exception:
                    log.exception("run %s: final write failed (try %d)", self.run_id, attempt)
                    time.sleep(1 + attempt)
            else:
                return
            report.followup.send()
        finally:
            self.log_file.close()
