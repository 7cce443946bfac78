"""The modern arch and Muon: training, exact resume, the sliding KV cache, checkpoints loaded
weights_only in a fresh process, Muon's groups, export refusals, and the knobs' errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from engine_helpers import prepared, shakespeare, tiny_config

from worker.cli import main as cli_main
from worker.engine.checkpoints.export import export_checkpoint, read_safetensors
from worker.engine.checkpoints.files import LATEST, load_checkpoint
from worker.engine.config.preflight import preflight
from worker.engine.config.train_config import TrainConfig
from worker.engine.errors import ConfigError
from worker.engine.events import StepEvent, TrainCallbacks
from worker.engine.model.build import build_model
from worker.engine.model.modern import ModernGPT
from worker.engine.sampling.generate import Sampling, generate_ids
from worker.engine.training.loop import train
from worker.engine.training.optimizers import MuonWithAdamW, build_optimizer, muon_groups

MODERN = {"arch": "modern", "learning_rate": 0.02, "min_lr": 0.002, "weight_decay": 0.0}


class Steps(TrainCallbacks):
    def __init__(self, stop_at: int | None = None) -> None:
        self.logs: list[StepEvent] = []
        self.evals: list[StepEvent] = []
        self.stop_at, self.polls = stop_at, 0

    def on_step(self, event: StepEvent) -> None:
        (self.logs if event.logged else []).append(event)
        (self.evals if event.evaluated else []).append(event)

    def should_stop(self) -> bool:
        self.polls += 1
        return self.stop_at is not None and self.polls > self.stop_at


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepared(tmp_path_factory.mktemp("corpus"), shakespeare(30_000))


@pytest.fixture(scope="module")
def trained(data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Steps]:
    """A modern model trained with Muon for 60 steps (shared by the tests that read it)."""
    out = tmp_path_factory.mktemp("modern-run")
    steps = Steps()
    train(tiny_config(data, out, max_iters=60, eval_interval=30, **MODERN), steps)
    return out, steps


def test_modern_model_trains_with_muon_by_default(trained: tuple[Path, Steps]) -> None:
    out, steps = trained
    assert [e.iter for e in steps.evals] == [0, 30, 60]
    assert steps.evals[-1].val_loss < steps.evals[0].val_loss - 0.6
    ckpt = load_checkpoint(out / LATEST)
    assert ckpt["model_args"]["arch"] == "modern" and ckpt["config"]["optimizer"] == "auto"
    assert set(ckpt["optimizer"]) == {"muon", "adamw"}  # auto is Muon for the modern arch
    assert "transformer.wpe.weight" not in ckpt["model"]  # rotary: no learned positions
    assert not torch.equal(ckpt["model"]["lm_head.weight"], ckpt["model"]["transformer.wte.weight"])


def test_modern_model_memorises_a_short_string(tmp_path: Path) -> None:
    line = "the quick brown fox jumps over the lazy dog; pack my box with five dozen jugs.\n"
    text = (line * 3)[:200] + "\n" + (line * 3)[:200]
    data = prepared(tmp_path, text, val_fraction=0.5)
    cfg = tiny_config(
        data, tmp_path / "out", block_size=16, batch_size=16, max_iters=150, eval_interval=150,
        lr_decay_iters=150, warmup_iters=0, **MODERN,
    )  # fmt: skip
    steps = Steps()
    train(cfg, steps)
    assert steps.evals[-1].eval_train_loss < 0.15


def test_modern_resume_is_exact(data: Path, tmp_path: Path) -> None:
    """N straight == N/2, stop, resume, N/2, with Muon's momentum and dropout in play."""
    knobs = {**MODERN, "dropout": 0.1, "max_iters": 20, "eval_interval": 10, "log_interval": 1}
    straight = Steps()
    train(tiny_config(data, tmp_path / "straight", **knobs), straight)
    halves = Steps(stop_at=10)
    assert train(tiny_config(data, tmp_path / "halves", **knobs), halves).iter_num == 10
    resumed = Steps()
    train(tiny_config(data, tmp_path / "halves", init_from="resume", **knobs), resumed)
    for a, b in zip(halves.logs + resumed.logs, straight.logs, strict=True):
        assert a.iter == b.iter and a.loss == pytest.approx(b.loss, abs=1e-4)
    end_a = load_checkpoint(tmp_path / "straight" / LATEST)
    end_b = load_checkpoint(tmp_path / "halves" / LATEST)
    for key, tensor in end_a["model"].items():
        torch.testing.assert_close(end_b["model"][key], tensor, rtol=0, atol=1e-4)
    momentum = [ckpt["optimizer"]["muon"]["state"][0]["momentum_buffer"] for ckpt in (end_a, end_b)]
    torch.testing.assert_close(momentum[1], momentum[0])


def test_resume_refuses_another_arch_or_optimizer(trained: tuple[Path, Steps], data: Path) -> None:
    out, _ = trained
    base = {"max_iters": 80, "eval_interval": 30, "init_from": "resume"}
    with pytest.raises(ConfigError, match="the checkpoint is a modern model") as arch:
        preflight(tiny_config(data, out, **base))
    assert arch.value.field == "arch"
    with pytest.raises(ConfigError, match="optimizer state is muon's") as opt:
        preflight(tiny_config(data, out, **base, **MODERN, optimizer="adamw"))
    assert opt.value.field == "optimizer"


def _shape(arch: str, block_size: int = 8) -> dict:
    args = {"n_layer": 2, "n_head": 2, "n_embd": 16, "block_size": block_size,
            "bias": arch == "gpt2", "vocab_size": 13, "dropout": 0.0}  # fmt: skip
    return {**args, "arch": arch} if arch == "modern" else args


def _random_modern(block_size: int = 8) -> ModernGPT:
    torch.manual_seed(0)
    model = build_model(_shape("modern", block_size))
    with torch.no_grad():  # zero-initialised projections would make every token alike
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.5)
    assert isinstance(model, ModernGPT)
    return model


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_sliding_kv_cache_equals_the_uncached_path_past_block_size(temperature: float) -> None:
    model = _random_modern(block_size=8)
    prompt = [1, 5, 2, 7, 3, 3, 9, 4, 0, 6, 11]  # longer than the window: cropped
    sampling = Sampling(temperature=temperature, top_k=None)
    runs = []
    for use_cache in (True, False):
        generator = torch.Generator().manual_seed(7)
        runs.append(list(generate_ids(model, prompt, 40, sampling, generator, use_cache=use_cache)))
    assert runs[0] == runs[1] and len(runs[0]) == 40
    assert len(set(runs[0])) > 3  # not one token repeated: the comparison means something


def test_a_rotary_model_sees_relative_positions_only() -> None:
    """The same window read at position 0 or 100 gives the same logits (why the cache slides)."""
    model = _random_modern().eval()
    idx = torch.tensor([[3, 1, 4, 1, 5, 9, 2, 6]])
    at_zero, _ = model(idx)
    later, _ = model(idx, start=100)
    torch.testing.assert_close(at_zero, later, rtol=1e-4, atol=1e-5)


def test_modern_checkpoint_loads_weights_only_in_a_fresh_process(
    trained: tuple[Path, Steps],
) -> None:
    out, _ = trained
    script = (
        "import sys; from worker.engine.sampling.sample import load_sampler, SampleOptions\n"
        "s = load_sampler(sys.argv[1], device='cpu')\n"
        "print(type(s.model).__name__, len(s.generate('Th', SampleOptions(max_new_tokens=80))[0]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(out)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ModernGPT", "82"]  # past block_size 32: the window slid


def test_muon_holds_exactly_the_hidden_matrices() -> None:
    for arch in ("modern", "gpt2"):
        model = build_model(_shape(arch))
        cfg = TrainConfig(arch=arch, optimizer="muon", bias=arch == "gpt2")
        optimizer = build_optimizer(model, cfg, "cpu")
        assert isinstance(optimizer, MuonWithAdamW)
        names = {id(p): n for n, p in model.named_parameters()}
        in_muon = sorted(names[id(p)] for g in optimizer.muon.param_groups for p in g["params"])
        hidden = sorted(n for n, p in model.named_parameters() if n.startswith("transformer.h.")
                        and p.dim() == 2)  # fmt: skip
        assert in_muon == hidden and len(hidden) == 8  # c_attn, c_proj, c_fc, c_proj per block
        in_adam = [names[id(p)] for g in optimizer.adamw.param_groups for p in g["params"]]
        assert sorted(in_muon + in_adam) == sorted(names.values())  # every parameter, once
        roles = muon_groups(model)
        assert roles["embedding"] and roles["head" if arch == "modern" else "embedding"]
    assert build_optimizer(model, TrainConfig(), "cpu").__class__ is torch.optim.AdamW


def test_exports_refuse_the_modern_arch_but_safetensors_keeps_the_head(
    trained: tuple[Path, Steps], tmp_path: Path
) -> None:
    out, _ = trained
    for fmt in ("nanogpt", "gguf"):  # hf holds it: tests/engine/test_hf_modern_export.py
        with pytest.raises(ConfigError, match="cannot be exported as") as refused:
            export_checkpoint(out, fmt, tmp_path / fmt)
        assert refused.value.field == "format" and not (tmp_path / fmt).exists()
    files = export_checkpoint(out, "safetensors", tmp_path / "st")
    state, model_args, _ = read_safetensors(files[0])
    model = build_model({**model_args, "dropout": 0.0})
    model.load_state_dict(state)  # every tensor, the untied head included
    original = load_checkpoint(out / LATEST)["model"]
    assert torch.equal(state["lm_head.weight"], original["lm_head.weight"])


@pytest.mark.parametrize(
    ("knobs", "field"),
    [
        ({"arch": "llama"}, "arch"),
        ({"optimizer": "sgd"}, "optimizer"),
        ({"arch": "modern", "bias": True}, "bias"),
        ({"arch": "modern", "n_embd": 36, "n_head": 4}, "n_head"),  # odd head size for rotary
        ({"arch": "modern", "init_from": "gpt2"}, "arch"),
    ],
)
def test_bad_arch_and_optimizer_values_name_the_field(
    data: Path, tmp_path: Path, knobs: dict, field: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        preflight(tiny_config(data, tmp_path, **knobs))
    assert refused.value.field == field


def test_cli_takes_arch_and_optimizer(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["train", "--data", str(data), "--out", str(tmp_path), "--preset", "tiny-cpu-fast",
              "--n_layer=1", "--n_embd=16", "--n_head=2", "--block_size=8", "--max_iters=2",
              "--lr_decay_iters=2", "--eval_iters=1", "--eval_interval=2"]  # fmt: skip
    assert cli_main([*common, "--arch=llama"]) == 2
    assert "error: arch: arch must be gpt2 or modern" in capsys.readouterr().err
    assert cli_main([*common, "--optimizer=adamw"]) == 0
    ckpt = load_checkpoint(tmp_path / LATEST)
    assert ckpt["model_args"]["arch"] == "modern" and ckpt["config"]["optimizer"] == "adamw"
    assert set(ckpt["optimizer"]) == {"state", "param_groups"}  # plain AdamW's state


def test_api_takes_arch_and_optimizer_and_names_bad_ones(client) -> None:
    from studio_stack import assert_error

    dataset = client.post("/api/v1/datasets/sample").json()
    body = {"dataset_id": dataset["id"], "tokenizer": "char", "preset": "tiny-cpu-fast"}
    plan = client.post("/api/v1/runs?dry_run=true", json=body)
    assert plan.status_code == 200, plan.text
    assert plan.json()["config"]["arch"] == "modern"
    assert plan.json()["config"]["optimizer"] == "muon"
    for knob, value in (("arch", "llama"), ("optimizer", "sgd")):
        refused = client.post("/api/v1/runs", json={**body, "config": {knob: value}})
        assert_error(refused, 422, field=knob)
