"""The training process's callbacks: metrics, log lines and checkpoints are buffered by the
training loop and written by a background thread in small transactions, each committed
before it is published, so an SSE client replaying the database and following the channel
never misses a point. The same thread heartbeats and watches the cancel flag."""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import delete, insert, select

from app.core.broker import publish, run_channel
from app.core.db import get_db
from app.core.models import Checkpoint, LogLine, Metric, Run
from app.core.settings import Settings
from app.core.states import RunState
from worker.claims import update_run
from worker.engine.events import CheckpointEvent, EvalEvent, LogEvent, StartInfo, TrainCallbacks

log = logging.getLogger(__name__)
CANCEL_POLL_S = 0.5


def _now() -> datetime:
    return datetime.now(UTC)


def _point(row: dict[str, Any], row_id: int) -> dict[str, Any]:
    """A metric row as the API shows it (MetricPoint)."""
    return {**row, "id": row_id, "logged_at": row["logged_at"].isoformat().replace("+00:00", "Z")}


class RunReporter(TrainCallbacks):
    def __init__(
        self,
        *,
        run_id: int,
        owner: str,
        settings: Settings,
        eval_interval: int,
        max_iters: int,
        log_path: Path,
    ) -> None:
        self.run_id, self.owner, self.settings = run_id, owner, settings
        self.eval_interval, self.max_iters = eval_interval, max_iters
        self.redis = redis.Redis.from_url(settings.redis_url or "", socket_connect_timeout=5)
        self.channel = run_channel(run_id)
        self.log_file = log_path.open("a", encoding="utf-8")
        self.stop_requested = threading.Event()
        self.cancelled = False  # the user asked; False when the lease was lost instead
        self.lease_lost = False
        self.interrupted = False  # SIGTERM/SIGINT: the service is stopping
        self._items: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._held: dict[str, Any] | None = None  # a step whose evaluation is about to follow
        self._progress: dict[str, Any] = {}
        self._written_iters: set[int] = set()
        self._unwritten: list[tuple[str, Any]] = []  # drained, but their transaction failed
        self._flush_lock = threading.Lock()
        self._parent = os.getppid()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="run-reporter", daemon=True)
        self._thread.start()

    # --- callbacks (training thread) ---
    def on_start(self, info: StartInfo) -> None:
        with get_db().transaction() as session:
            # A resume from an older checkpoint redoes the steps after it.
            session.execute(
                delete(Metric).where(Metric.run_id == self.run_id, Metric.iter > info.start_iter)
            )
        self._progress.update(device=info.device, max_iters=info.max_iters, iter=info.start_iter)
        self.max_iters = info.max_iters

    def on_log(self, event: LogEvent) -> None:
        row = {
            "iter": event.iter,
            "train_loss": event.loss,
            "val_loss": None,
            "eval_train_loss": None,
            "lr": event.lr,
            "tokens_per_sec": event.tokens_per_sec,
            "mfu": event.mfu,
            "memory_bytes": event.memory_bytes,
            "elapsed_s": event.elapsed_s,
            "logged_at": _now(),
        }
        self._release_held()
        if event.iter % self.eval_interval == 0 or event.iter == self.max_iters:
            self._held = row  # the evaluation of this iteration comes next: one row for both
        else:
            self._items.put(("metric", row))
        self._progress.update(
            iter=event.iter,
            last_train_loss=event.loss,
            tokens_per_sec=event.tokens_per_sec,
            mfu=event.mfu,
            eta_s=event.eta_s,
        )

    def on_eval(self, event: EvalEvent) -> None:
        held, self._held = self._held, None
        if held is not None and held["iter"] != event.iter:
            self._items.put(("metric", held))
            held = None
        row = held or {
            "iter": event.iter,
            "train_loss": None,
            "lr": event.lr,
            "tokens_per_sec": None,
            "mfu": None,
            "memory_bytes": None,
            "elapsed_s": None,
            "logged_at": _now(),
        }
        row.update(val_loss=event.val_loss, eval_train_loss=event.train_loss)
        self._items.put(("metric", row))
        best = self._progress.get("best_val_loss")
        self._progress.update(
            last_val_loss=event.val_loss,
            best_val_loss=event.val_loss if best is None else min(best, event.val_loss),
        )

    def on_checkpoint(self, event: CheckpointEvent) -> None:
        # Everything up to the checkpoint is written before training goes on: a run resumed
        # from this checkpoint after a crash then has no hole in its history.
        self._release_held()
        self._items.put(
            (
                "checkpoint",
                {
                    "name": Path(event.path).name,
                    "iter": event.iter,
                    "val_loss": event.val_loss,
                    "size_bytes": event.size_bytes,
                    "created_at": _now(),
                },
            )
        )
        try:
            self._flush()
        except Exception:
            log.exception("run %s: writing before the checkpoint failed", self.run_id)

    def on_message(self, line: str) -> None:
        self.log_file.write(line + "\n")
        self.log_file.flush()
        self._items.put(("log", {"line": line, "logged_at": _now()}))

    def should_stop(self) -> bool:
        return self.stop_requested.is_set()

    def _release_held(self) -> None:
        if self._held is not None:
            self._items.put(("metric", self._held))
            self._held = None

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
        with get_db().session() as session:
            flag = session.scalar(select(Run.cancel_requested).where(Run.id == self.run_id))
        if flag:
            self.cancelled = True
            self.stop_requested.set()

    def _drain(self) -> list[tuple[str, Any]]:
        items, self._unwritten = self._unwritten, []
        while True:
            try:
                items.append(self._items.get_nowait())
            except queue.Empty:
                return items

    def _flush(self, **final: Any) -> None:
        with self._flush_lock:
            items = self._drain()
            try:
                self._write(items, final)
            except Exception:
                self._unwritten = items  # tried again at the next flush
                raise

    def _write(self, items: list[tuple[str, Any]], final: dict[str, Any]) -> None:
        metrics = [item for kind, item in items if kind == "metric"]
        logs = [item for kind, item in items if kind == "log"]
        ckpts = [item for kind, item in items if kind == "checkpoint"]
        messages: list[dict[str, Any]] = []
        with get_db().transaction() as session:
            again = [m["iter"] for m in metrics if m["iter"] in self._written_iters]
            if again:
                session.execute(
                    delete(Metric).where(Metric.run_id == self.run_id, Metric.iter.in_(again))
                )
            if metrics:
                rows = [{**m, "run_id": self.run_id} for m in metrics]
                ids = session.scalars(
                    insert(Metric).returning(Metric.id, sort_by_parameter_order=True), rows
                ).all()
                for m, row_id in zip(metrics, ids, strict=True):
                    self._written_iters.add(m["iter"])
                    messages.append({"type": "metric", "id": row_id, "row": _point(m, row_id)})
            if logs:
                rows = [{**entry, "run_id": self.run_id} for entry in logs]
                ids = session.scalars(
                    insert(LogLine).returning(LogLine.id, sort_by_parameter_order=True), rows
                ).all()
                for entry, row_id in zip(logs, ids, strict=True):
                    row = {
                        "id": row_id,
                        "line": entry["line"],
                        "logged_at": entry["logged_at"].isoformat().replace("+00:00", "Z"),
                    }
                    messages.append({"type": "log", "id": row_id, "row": row})
            for ckpt in ckpts:
                session.execute(
                    delete(Checkpoint).where(
                        Checkpoint.run_id == self.run_id, Checkpoint.name == ckpt["name"]
                    )
                )
                session.execute(insert(Checkpoint).values(run_id=self.run_id, **ckpt))
        values = {**self._progress, "heartbeat_at": _now(), **final}
        if not update_run(self.run_id, self.owner, **values):
            self.lease_lost = True
            self.stop_requested.set()
        for message in messages:
            publish(self.redis, self.channel, message)

    # --- end (training thread) ---
    def finish(self, state: RunState | None, **values: Any) -> None:
        """Write what is left and, unless the lease is gone, the run's final state."""
        self._release_held()
        self._closing.set()
        self._thread.join()
        final: dict[str, Any] = {}
        if state is not None and not self.lease_lost:
            final = {"state": state, "finished_at": _now(), "heartbeat_at": _now(), **values}
        elif values.get("iter") is not None:
            final = {"iter": values["iter"]}
        try:
            for attempt in range(5):  # the final state must land; the database may blink
                try:
                    self._flush(**final)
                    break
                except Exception:
                    log.exception("run %s: final write failed (try %d)", self.run_id, attempt)
                    time.sleep(1 + attempt)
            if final and not self.lease_lost:
                publish(
                    self.redis,
                    self.channel,
                    {
                        "type": "state",
                        "state": str(state),
                        **{
                            k: v
                            for k, v in values.items()
                            if k in ("failure_reason", "failure_message")
                        },
                    },
                )
        finally:
            self.log_file.close()
            self.redis.close()
