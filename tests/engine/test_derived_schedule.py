"""The schedule knobs a user leaves unset follow max_iters (worker/engine/config/derived.py),
the same through the presets (so the API), and the CLI."""

from __future__ import annotations

import pytest

from worker.engine.config.derived import set_knobs, warmup_cap, with_derived_schedule
from worker.engine.config.presets import PRESETS, preset_config
from worker.engine.config.train_config import TrainConfig
from worker.engine.config.warnings import schedule_warnings


@pytest.mark.parametrize(
    ("given", "decay", "warmup"),
    [
        ({"max_iters": 300}, 300, 30),  # the preset's 2,000 / 100 follow the run
        ({"max_iters": 60, "lr_decay_iters": 60}, 60, 6),
        ({"max_iters": 5000}, 5000, 100),  # a long run keeps the preset's warmup
        ({"max_iters": 5}, 5, 0),
        ({"max_iters": 300, "lr_decay_iters": 100}, 100, 10),  # warmup fits the decay
        ({"max_iters": 300, "warmup_iters": 200, "lr_decay_iters": 250}, 250, 200),  # as set
        ({}, 2000, 100),
    ],
)
def test_unset_schedule_knobs_follow_max_iters(given, decay, warmup):
    cfg = preset_config("tiny-cpu", given)
    assert (cfg.lr_decay_iters, cfg.warmup_iters) == (decay, warmup)


def test_a_run_that_sets_only_its_length_has_no_schedule_warning():
    for name in PRESETS:
        for max_iters in (1, 60, 300, 2000, 100_000):
            cfg = preset_config(name, {"max_iters": max_iters})
            fields = {w.field for w in schedule_warnings(cfg)}
            assert not fields & {"warmup_iters", "lr_decay_iters"}, (name, max_iters)


def test_nanogpts_defaults_are_their_own_derivation():
    assert with_derived_schedule(TrainConfig(), {}) == TrainConfig()
    for name, values in PRESETS.items():  # every preset as written, unless it does not decay
        cfg = preset_config(name)
        if cfg.decay_lr:
            assert cfg == TrainConfig.from_mapping(values), name


def test_a_nonsense_length_derives_nothing():
    cfg = preset_config("tiny-cpu", {"max_iters": 0})
    assert (cfg.lr_decay_iters, cfg.warmup_iters) == (2000, 100)  # preflight refuses max_iters


def test_set_knobs_are_those_that_do_not_follow():
    follows = preset_config("tiny-cpu", {"max_iters": 300})
    assert set_knobs(follows) == set()
    chosen = preset_config("tiny-cpu", {"max_iters": 300, "lr_decay_iters": 250,
                                        "warmup_iters": 100})  # fmt: skip
    assert set_knobs(chosen) == {"lr_decay_iters", "warmup_iters"}
    assert warmup_cap(300, 250) == 25
