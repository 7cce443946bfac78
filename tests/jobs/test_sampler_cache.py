"""The sample worker keeps loaded checkpoints, and reloads one that was rewritten."""

import os

import pytest

from worker.engine.config.train_config import TrainConfig
from worker.engine.data.prepare import prepare
from worker.engine.training.loop import train
from worker.jobs.sampler_cache import SamplerCache


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpt")
    (root / "input.txt").write_text("to be or not to be, that is the question\n" * 200)
    prepare(root / "input.txt", root / "data")
    cfg = TrainConfig.from_mapping(
        {"data_dir": str(root / "data"), "out_dir": str(root / "out"), "n_layer": 1,
         "n_head": 2, "n_embd": 16, "block_size": 8, "batch_size": 2, "max_iters": 3,
         "lr_decay_iters": 3, "warmup_iters": 1, "eval_interval": 3, "eval_iters": 1,
         "gradient_accumulation_steps": 1, "device": "cpu", "compile": False}
    )  # fmt: skip
    train(cfg)
    return root / "out" / "ckpt.pt"


def test_loads_once_and_reloads_a_rewritten_file(checkpoint):
    cache = SamplerCache(size=2)
    first = cache.get(checkpoint)
    assert cache.get(checkpoint) is first
    stat = checkpoint.stat()
    os.utime(checkpoint, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    again = cache.get(checkpoint)
    assert again is not first and len(cache) == 1  # the old version is dropped
