"""The budget planner: what a wall-time budget buys for a few dataset sizes and budgets."""

import pytest

from worker.engine.config.budget import (
    MIN_TOKENS_PER_PARAM,
    REPEAT_EPOCHS,
    TOKENS_PER_PARAM,
    BudgetPlan,
    parse_budget,
    plan_budget,
    tokens_per_param,
)
from worker.engine.config.memory_estimate import estimate_memory
from worker.engine.config.memory_guard import WARN_SHARE, Device
from worker.engine.config.preflight import find_problems
from worker.engine.config.presets import preset_config
from worker.engine.config.speed import SPEED_TABLE, Speed
from worker.engine.errors import ConfigError

SHAKESPEARE = 1_003_854  # Tiny Shakespeare's train split, char tokens
BASE = preset_config("tiny-cpu")
CPU = Device("cpu", "test CPU", 8 * 2**30)


def plan(budget_s: float, tokens: int, fixed: dict | None = None, **kw) -> BudgetPlan:
    base = preset_config("tiny-cpu", fixed or {})
    kw.setdefault("device", CPU)
    return plan_budget(
        budget_s, base, fixed=set(fixed or {}), train_tokens=tokens, vocab_size=65, **kw
    )


def assert_runs(p: BudgetPlan, tokens: int) -> None:
    """The plan passes every preflight check, and its iterations fit its loop's time."""
    cfg = p.config
    meta = {"train_tokens": tokens, "val_tokens": tokens // 9, "vocab_size": 65}
    assert find_problems(cfg, meta) == []
    assert cfg.lr_schedule == "wsd" and cfg.decay_lr
    assert p.expected_iters * p.seconds_per_iter <= cfg.time_budget_s
    assert cfg.max_iters > p.expected_iters  # the deadline, not max_iters, ends the run
    assert p.tokens == p.expected_iters * cfg.tokens_per_iter


@pytest.mark.parametrize(
    ("budget_s", "tokens"),
    [(300, SHAKESPEARE), (1200, 100_000_000), (60, 20_000), (7200, 5_000_000)],
)
def test_a_plan_fits_its_budget_and_the_data(budget_s: float, tokens: int) -> None:
    p = plan(budget_s, tokens)
    assert_runs(p, tokens)
    assert p.config.time_budget_s < budget_s  # the process's start is reserved
    smallest = p.config.n_layer == 2 and p.config.n_embd == 64
    assert p.params <= tokens or smallest  # never more parameters than the data has tokens
    assert p.epochs == pytest.approx(p.tokens / tokens)


def test_plenty_of_data_gets_the_compute_optimal_ratio() -> None:
    p = plan(1200, 100_000_000)
    ratio = tokens_per_param(p.params)
    assert ratio <= p.tokens / p.params < 3 * ratio
    assert "compute-optimal" in p.reasons[2]
    big = plan(7 * 86400, 100_000_000_000, device=Device("cuda", "big GPU", 80 * 2**30))
    assert big.params > 1e8 and tokens_per_param(big.params) == TOKENS_PER_PARAM
    assert p.config.arch == "modern" and p.config.optimizer == "muon"


def test_a_longer_budget_buys_a_larger_model() -> None:
    sizes = [plan(b, 100_000_000).params for b in (60, 600, 6000)]
    assert sizes[0] < sizes[1] < sizes[2]


def test_data_too_small_for_the_optimal_model_buys_a_larger_one() -> None:
    """Tiny Shakespeare in 5 minutes of this project's CPU: the compute-optimal model would
    pass over the text 5 times; a larger one sees it at most REPEAT_EPOCHS times."""
    cpu = Speed(flops_per_s=93.3e9, overhead_s=0.0094, source="measured")
    p = plan(300, SHAKESPEARE, speed=cpu)
    assert "Muennighoff" in p.reasons[2] and "would see the train split 5 times" in p.reasons[2]
    assert p.epochs <= REPEAT_EPOCHS
    assert p.tokens >= MIN_TOKENS_PER_PARAM * p.params and p.params <= SHAKESPEARE
    optimal = plan(300, 100_000_000, speed=cpu)  # the same budget on plenty of data
    assert p.params > optimal.params
    assert_runs(p, SHAKESPEARE)


def test_small_data_caps_the_model_and_trains_more_epochs() -> None:
    p = plan(7200, 2_000_000)
    assert p.params <= 2_000_000
    assert p.epochs > REPEAT_EPOCHS
    assert "the model is capped there and sees it 15 times" in p.reasons[2]
    assert p.config.block_size == 128  # still many windows of it
    tiny = plan(7200, 20_000)  # the compute-optimal model would be 90 times the data
    assert tiny.config.n_layer == 2 and tiny.config.n_embd == 64
    assert "no more parameters than it has tokens" in tiny.reasons[2]


def test_a_tiny_budget_gets_the_smallest_model_and_says_so() -> None:
    p = plan(10, 100_000_000, speed=SPEED_TABLE["cpu"])
    assert p.config.n_layer == 2 and p.config.n_embd == 64
    assert p.reasons[2].startswith("even the smallest model")


def test_the_users_knobs_are_kept() -> None:
    fixed = {"n_layer": 2, "batch_size": 8, "learning_rate": 0.01, "block_size": 32}
    p = plan(300, SHAKESPEARE, fixed)
    cfg = p.config
    assert (cfg.n_layer, cfg.batch_size, cfg.learning_rate, cfg.block_size) == (2, 8, 0.01, 32)
    assert_runs(p, SHAKESPEARE)


def test_the_gpt2_arch_when_kept_gets_adamw() -> None:
    p = plan(300, SHAKESPEARE, {"arch": "gpt2"})
    assert p.config.arch == "gpt2" and p.config.optimizer_name == "adamw"
    assert_runs(p, SHAKESPEARE)


def test_the_memory_guard_bounds_the_plan() -> None:
    small = Device("cuda", "small GPU", 1000 * 2**20)
    p = plan(3600, 1_000_000_000, device=small)
    need = estimate_memory(p.config, 65, "cuda").total_bytes
    assert need <= WARN_SHARE * small.free_bytes
    roomy = plan(3600, 1_000_000_000, device=Device("cuda", "big GPU", 80 * 2**30))
    assert roomy.params > p.params


def test_a_faster_device_buys_a_larger_model() -> None:
    slow = plan(600, 100_000_000)
    fast = plan(600, 100_000_000, device=Device("cuda", "GPU", 40 * 2**30))
    assert fast.params > 10 * slow.params


@pytest.mark.parametrize(
    ("raw", "seconds"), [("90s", 90), ("20m", 1200), ("2h", 7200), (45, 45), ("1.5h", 5400)]
)
def test_budgets_are_read_with_units(raw: str | int, seconds: float) -> None:
    assert parse_budget(raw) == seconds


@pytest.mark.parametrize("raw", [0, "0", "5s", "3650d", 3.2e8, "soon", "20 minutes", True])
def test_bad_budgets_are_refused_naming_the_field(raw: object) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_budget(raw)  # type: ignore[arg-type]
    assert caught.value.field == "budget"
