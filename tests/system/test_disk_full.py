"""A full disk at checkpoint time: the run stops as disk_full, saying where and how much, and
the previous checkpoint stays whole. The disks are real: small tmpfs mounts."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from engine_helpers import prepared, shakespeare, tiny_config
from small_disk import fill, mount_small_disk, unmount

from worker.engine.checkpoints.files import LATEST, load_checkpoint, save_checkpoint
from worker.engine.errors import DiskFullError
from worker.engine.events import CheckpointEvent, TrainCallbacks
from worker.engine.training.loop import train


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    mount_small_disk(disk, "8m")
    try:
        yield disk
    finally:
        unmount(disk)


class FillTheDiskAfterTheFirstCheckpoint(TrainCallbacks):
    def __init__(self, disk: Path) -> None:
        self.disk, self.saved = disk, []

    def on_checkpoint(self, event: CheckpointEvent) -> None:
        self.saved.append(event)
        if len(self.saved) == 1:  # someone else fills the disk, but for 200 kB
            fill(self.disk, leave=200_000)


def test_a_full_disk_stops_the_run_and_keeps_the_last_checkpoint(
    small_disk: Path, tmp_path: Path
) -> None:
    data = prepared(tmp_path, shakespeare(30_000))
    cfg = tiny_config(data, small_disk, max_iters=40, eval_interval=10)
    callbacks = FillTheDiskAfterTheFirstCheckpoint(small_disk)
    with pytest.raises(DiskFullError) as caught:
        train(cfg, callbacks)
    error = caught.value
    assert error.reason == "disk_full" and error.field == "out_dir"
    assert str(small_disk) in error.message and "MB free" in error.message
    assert "The previous checkpoint is kept" in error.message
    kept = load_checkpoint(small_disk / LATEST)
    assert kept["iter_num"] == callbacks.saved[0].iter == 10
    assert [p.name for p in small_disk.iterdir() if p.name.endswith(".tmp")] == []


def test_a_write_that_runs_out_of_room_is_disk_full_too(small_disk: Path) -> None:
    """Room that looked enough (what the check cannot count, here a 12 MB blob) runs out in
    the middle of torch's writer: still disk_full, no temp file left, the old file whole."""
    path = small_disk / LATEST
    save_checkpoint({"model": {"w": torch.ones(10)}}, path)
    with pytest.raises(DiskFullError, match="no room for the checkpoint"):
        save_checkpoint({"model": {"w": torch.ones(10)}, "blob": b"x" * 12_000_000}, path)
    assert torch.load(path, weights_only=True)["model"]["w"].sum() == 10
    assert sorted(p.name for p in small_disk.iterdir()) == [LATEST]


def test_the_training_process_records_disk_full(local_env, tmp_path: Path) -> None:
    """The service's training process, in this process: the run ends failed(disk_full)."""
    from studio_rows import get_run, make_preparation, make_run

    from app.store.db import get_db
    from app.store.models import Preparation
    from app.store.run_lease import claim
    from app.store.settings import get_settings
    from worker.engine.data.prepare import prepare
    from worker.jobs import training_process

    settings = get_settings()
    prep_id = make_preparation(state="ready")
    with get_db().session() as session:
        dataset_id = session.get(Preparation, prep_id).dataset_id
    source = tmp_path / "input.txt"
    source.write_text(shakespeare(30_000), encoding="utf-8")
    prepare(source, settings.prepared_dir(dataset_id, "char", 0.1), tokenizer="char")
    config = tiny_config(Path("."), Path("."), max_iters=20, eval_interval=10).to_dict()
    run_id = make_run(config=config, max_iters=20, dataset_id=dataset_id, preparation_id=prep_id)
    mount_small_disk(settings.run_dir(run_id), "1m")  # not even one checkpoint fits
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        assert claim(run_id, "w:1").held
        assert training_process.main(run_id, "w:1") == 0
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        unmount(settings.run_dir(run_id))
    run = get_run(run_id)
    assert run.state == "failed" and run.failure_reason == "disk_full", run.failure_message
    assert "MB free" in run.failure_message
    # No checkpoint was ever written: the message must not promise one.
    assert "No checkpoint has been written yet" in run.failure_message
    assert "previous checkpoint" not in run.failure_message
