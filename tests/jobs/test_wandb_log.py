"""The optional Weights & Biases logging (worker/jobs/wandb_log.py) with the real wandb, offline:
a tiny run trains with the wrapper, then the run's own `.wandb` file is read back and must
hold the project, the name, the config and, step by step, the keys nanoGPT's train.py logs."""

from __future__ import annotations

import json
import struct
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import prepared, shakespeare, tiny_config

from worker.engine.events import TrainCallbacks
from worker.jobs.wandb_log import with_wandb

wandb_pb = pytest.importorskip("wandb.proto.wandb_internal_pb2")

# The .wandb file: a 7-byte header (":W&B", magic 0xBEE1, version 0), then LevelDB's log
# format: 32 KiB blocks of chunks, each `crc32c (4) | length (2) | type (1) | data`, a
# record cut into FIRST, MIDDLE…, LAST chunks (or one FULL) and a block's last < 7 bytes
# zero padding. Each record is a protobuf `Record`.
HEADER = 7
BLOCK = 32 * 1024
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def read_records(path: Path) -> list[Any]:
    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a wandb log"
    records, pending, pos = [], b"", HEADER
    while pos + HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        if left < HEADER:
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + HEADER])
        if kind == 0:  # padding to the block's end
            pos += left
            continue
        if pos + HEADER + length > len(data):
            break  # a chunk still being written
        pending += data[pos + HEADER : pos + HEADER + length]
        pos += HEADER + length
        if kind in (FULL, LAST):
            record = wandb_pb.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def finished_records(path: Path, timeout_s: float = 60.0) -> list[Any]:
    """The records once the run's `exit` record is in: wandb's service process (wandb-core)
    may still be writing the file when `finish()` has returned."""
    deadline = time.monotonic() + timeout_s
    while True:
        records = read_records(path)
        if records and records[-1].WhichOneof("record_type") == "exit":
            return records
        assert time.monotonic() < deadline, f"{path} has no exit record after {timeout_s} s"
        time.sleep(0.1)


def history(records: list[Any]) -> list[dict[str, Any]]:
    """The logged rows, without wandb's own `_step`, `_runtime` and `_timestamp`."""
    rows = []
    for record in records:
        if record.WhichOneof("record_type") == "history":
            row = {item.key or "/".join(item.nested_key): json.loads(item.value_json)
                   for item in record.history.item}  # fmt: skip
            rows.append({k: v for k, v in row.items() if not k.startswith("_")})
    return rows


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """wandb offline, with every file it writes (runs, cache, its config) under tmp_path."""
    root = tmp_path / "wandb-home"
    for name in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR"):
        (root / name).mkdir(parents=True)
        monkeypatch.setenv(name, str(root / name))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DISABLE_CODE", "true")
    return root / "WANDB_DIR"


def test_a_run_logs_nanogpts_keys_to_an_offline_wandb_run(offline: Path, tmp_path: Path) -> None:
    from worker.engine.training.loop import train

    data = prepared(tmp_path, shakespeare(4000))
    cfg = tiny_config(data, tmp_path / "out", n_layer=1, n_embd=16, block_size=8, batch_size=2,
                      max_iters=4, eval_interval=2, eval_iters=1, log_interval=1,
                      lr_decay_iters=4, warmup_iters=1, wandb_log=True,
                      wandb_project="studio-test", wandb_run_name="tiny")  # fmt: skip
    said: list[str] = []
    callbacks = with_wandb(TrainCallbacks(), cfg, said.append)
    try:
        result = train(cfg, callbacks)
    finally:
        callbacks.close()
    assert said == [] and result.status == "completed"

    [log] = list(offline.glob("wandb/offline-run-*/run-*.wandb"))
    records = finished_records(log)
    [run] = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert (run.project, run.display_name) == ("studio-test", "tiny")
    config = {item.key: json.loads(item.value_json) for item in run.config.update}
    assert config["n_layer"] == 1 and config["n_embd"] == 16 and config["max_iters"] == 4

    rows = history(records)
    assert [row["iter"] for row in rows] == [0, 1, 2, 3, 4]
    step_keys = {"iter", "lr", "train/step_loss", "mfu", "tokens_per_sec"}
    eval_keys = {"iter", "lr", "train/loss", "val/loss", "val/bpc"}  # bpc: chars known
    assert set(rows[0]) == eval_keys  # iteration 0: evaluated, no step
    assert set(rows[1]) == set(rows[3]) == step_keys
    assert set(rows[2]) == set(rows[4]) == step_keys | eval_keys
    assert all(row["lr"] > 0 for row in rows)
    val_losses = [row["val/loss"] for row in rows if "val/loss" in row]
    assert min(val_losses) == pytest.approx(result.best_val_loss, rel=1e-6)


def test_without_wandb_installed_the_run_says_so_and_logs_to_the_studio_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` raises ImportError
    cfg = tiny_config(tmp_path, tmp_path / "out", wandb_log=True)
    inner = TrainCallbacks()
    said: list[str] = []
    assert with_wandb(inner, cfg, said.append) is inner
    assert said == ["wandb_log is on but wandb is not installed; logging to the studio only"]
