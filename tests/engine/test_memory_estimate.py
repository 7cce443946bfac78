"""The memory estimate and guard (no torch needed for either), and the schedule warnings."""

from __future__ import annotations

from dataclasses import replace

import pytest

from worker.engine.config.memory_estimate import (
    estimate_memory,
    largest_batch_that_fits,
    model_shape,
    parameter_count,
)
from worker.engine.config.memory_guard import WARN_SHARE, Device, check_memory
from worker.engine.config.presets import preset_config
from worker.engine.config.train_config import TrainConfig
from worker.engine.config.warnings import schedule_warnings

GiB = 2**30
CFG = preset_config("tiny-cpu")  # 4 x 128, block 64, batch 12, on a CPU


@pytest.mark.parametrize(("arch", "bias"), [("gpt2", False), ("gpt2", True), ("modern", False)])
def test_the_parameter_count_is_the_models(arch: str, bias: bool) -> None:
    from worker.engine.model.build import build_model

    cfg = replace(CFG, n_layer=2, n_head=2, n_embd=32, block_size=16, bias=bias, arch=arch)
    model = build_model(cfg.model_args(65))
    shape = model_shape(cfg, 65)
    assert parameter_count(shape) == model.num_params(non_embedding=False)
    assert parameter_count(shape, non_embedding=True) == model.num_params()
    estimate = estimate_memory(cfg, 65, "cpu")
    assert (estimate.params, estimate.non_embedding_params) == (
        model.num_params(non_embedding=False),
        model.num_params(),
    )
    assert estimate.vocab_size == 65


def test_gpt2_small_is_counted_as_torch_counts_it() -> None:
    gpt2 = replace(CFG, n_layer=12, n_head=12, n_embd=768, block_size=1024, bias=True)
    assert parameter_count(model_shape(gpt2, 50257)) == 124_439_808  # tied embeddings
    nanogpt = parameter_count(model_shape(gpt2, 50257), non_embedding=True)
    assert nanogpt == 124_439_808 - 1024 * 768  # nanoGPT's "number of parameters: 123.65M"


def test_the_estimate_grows_with_what_it_holds() -> None:
    base = estimate_memory(CFG, 65, "cpu")
    assert base.state_bytes == 16 * base.params
    assert base.total_bytes == base.state_bytes + base.activation_bytes + base.runtime_bytes
    bigger = estimate_memory(replace(CFG, batch_size=24), 65, "cpu")
    assert bigger.state_bytes == base.state_bytes
    assert bigger.activation_bytes == pytest.approx(2 * base.activation_bytes, rel=1e-9)
    # 16-bit activations on a GPU take half the room of a CPU's float32 ones (no T^2 there)
    gpu = estimate_memory(replace(CFG, block_size=512), 65, "cuda")
    cpu_flash = estimate_memory(replace(CFG, block_size=512), 65, "cpu")
    assert gpu.activation_bytes * 2 == pytest.approx(cpu_flash.activation_bytes, rel=0.2)


def test_a_fine_tune_is_estimated_at_gpt2s_size() -> None:
    finetune = preset_config("finetune-gpt2")
    estimate = estimate_memory(finetune, 65, "cuda")
    assert estimate.params == 124_439_808  # with 1024 positions
    assert estimate.vocab_size == 50257  # GPT-2's, whatever the data's


def test_the_largest_batch_that_fits_is_the_edge() -> None:
    budget = GiB
    batch = largest_batch_that_fits(replace(CFG, batch_size=100_000), 65, "cpu", budget)
    assert estimate_memory(replace(CFG, batch_size=batch), 65, "cpu").total_bytes <= budget
    assert estimate_memory(replace(CFG, batch_size=batch + 1), 65, "cpu").total_bytes > budget
    assert largest_batch_that_fits(CFG, 65, "cpu", 1000) == 0


def test_the_guard_refuses_warns_or_passes() -> None:
    need = estimate_memory(CFG, 65, "cpu").total_bytes
    assert check_memory(CFG, 65, None).errors == []  # no device known: nothing to compare
    roomy = check_memory(CFG, 65, Device("cpu", "box", 10 * need))
    assert roomy.errors == [] and roomy.warnings == []
    close = check_memory(CFG, 65, Device("cpu", "box", int(need / (WARN_SHARE + 0.1))))
    assert close.errors == [] and [w.field for w in close.warnings] == ["batch_size"]
    huge = replace(CFG, batch_size=50_000)
    refused = check_memory(huge, 65, Device("cpu", "box", 2 * need))
    assert [e.field for e in refused.errors] == ["batch_size"]
    assert "box (cpu) has" in refused.errors[0].message


def test_schedule_warnings_name_each_knob() -> None:
    good = TrainConfig(max_iters=100, lr_decay_iters=100, warmup_iters=10, eval_interval=50)
    assert schedule_warnings(good) == []
    odd = replace(good, warmup_iters=100, lr_decay_iters=300, eval_interval=500,
                  min_lr=1.0, learning_rate=0.1)  # fmt: skip
    warnings = schedule_warnings(odd)
    assert [w.field for w in warnings] == ["warmup_iters", "lr_decay_iters", "eval_interval",
                                           "min_lr"]  # fmt: skip
    assert "stops before it has decayed" in warnings[1].message
    shorter = schedule_warnings(replace(good, lr_decay_iters=60))
    assert "the last 40 iterations run at min_lr" in shorter[0].message
    constant = replace(odd, decay_lr=False)  # no schedule: only the evaluation plan matters
    assert [w.field for w in schedule_warnings(constant)] == ["eval_interval"]
    assert schedule_warnings(replace(odd, eval_only=True)) == []
