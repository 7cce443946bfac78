"""The GPT matches nanoGPT's layout and init, and its KV cache changes nothing but speed."""

import math

import pytest
import torch

from worker.engine.config.train_config import TrainConfig
from worker.engine.model.gpt import GPT, GPTConfig, KVCache
from worker.engine.training.optimizers import build_optimizer

TINY = GPTConfig(block_size=16, vocab_size=40, n_layer=2, n_head=2, n_embd=32, bias=True)


def nanogpt_state_dict_shapes(cfg: GPTConfig) -> dict[str, tuple[int, ...]]:
    """The keys and shapes nanoGPT's model.py produces (written out from its layout)."""
    c, v = cfg.n_embd, cfg.vocab_size
    shapes: dict[str, tuple[int, ...]] = {
        "transformer.wte.weight": (v, c),
        "transformer.wpe.weight": (cfg.block_size, c),
        "transformer.ln_f.weight": (c,),
        "lm_head.weight": (v, c),
    }
    for i in range(cfg.n_layer):
        p = f"transformer.h.{i}."
        shapes |= {
            p + "ln_1.weight": (c,),
            p + "attn.c_attn.weight": (3 * c, c),
            p + "attn.c_proj.weight": (c, c),
            p + "ln_2.weight": (c,),
            p + "mlp.c_fc.weight": (4 * c, c),
            p + "mlp.c_proj.weight": (c, 4 * c),
        }
        if cfg.bias:
            shapes |= {
                p + "ln_1.bias": (c,),
                p + "attn.c_attn.bias": (3 * c,),
                p + "attn.c_proj.bias": (c,),
                p + "ln_2.bias": (c,),
                p + "mlp.c_fc.bias": (4 * c,),
                p + "mlp.c_proj.bias": (c,),
            }
    if cfg.bias:
        shapes["transformer.ln_f.bias"] = (c,)
    return shapes


@pytest.mark.parametrize("bias", [True, False])
def test_state_dict_keys_and_shapes_are_nanogpts(bias: bool) -> None:
    cfg = GPTConfig(**{**TINY.to_dict(), "bias": bias})
    model = GPT(cfg)
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert got == nanogpt_state_dict_shapes(cfg)


def test_head_is_tied_to_token_embedding() -> None:
    model = GPT(TINY)
    assert model.lm_head.weight is model.transformer.wte.weight


def test_residual_projections_get_scaled_init() -> None:
    torch.manual_seed(0)
    cfg = GPTConfig(block_size=8, vocab_size=50, n_layer=8, n_head=4, n_embd=256)
    model = GPT(cfg)
    std = model.transformer.h[0].mlp.c_proj.weight.std().item()
    assert std == pytest.approx(0.02 / math.sqrt(2 * cfg.n_layer), rel=0.05)
    assert model.transformer.h[0].mlp.c_fc.weight.std().item() == pytest.approx(0.02, rel=0.05)


def test_loss_at_init_is_near_uniform_guess() -> None:
    torch.manual_seed(0)
    model = GPT(TINY)
    idx = torch.randint(0, TINY.vocab_size, (4, TINY.block_size))
    targets = torch.randint(0, TINY.vocab_size, (4, TINY.block_size))
    _, loss = model(idx, targets)
    assert loss is not None
    assert loss.item() == pytest.approx(math.log(TINY.vocab_size), abs=0.3)


def test_cached_forward_matches_full_forward() -> None:
    torch.manual_seed(0)
    model = GPT(TINY).eval()
    idx = torch.randint(0, TINY.vocab_size, (2, 12))
    full, _ = model(idx, idx)  # logits for every position
    cache = KVCache(TINY, batch=2, device=torch.device("cpu"), dtype=torch.float32)
    prefill, _ = model(idx[:, :5], cache=cache)
    stepped = [prefill]
    for t in range(5, 12):
        logits, _ = model(idx[:, t : t + 1], cache=cache)
        stepped.append(logits)
    # position t's logits from the cache equal the full pass's at t
    for offset, logits in enumerate(stepped):
        torch.testing.assert_close(logits[:, -1], full[:, 4 + offset], rtol=1e-5, atol=1e-5)


def test_cached_chunk_after_prefill_uses_causal_mask() -> None:
    torch.manual_seed(0)
    model = GPT(TINY).eval()
    idx = torch.randint(0, TINY.vocab_size, (1, 10))
    full, _ = model(idx, idx)
    cache = KVCache(TINY, batch=1, device=torch.device("cpu"), dtype=torch.float32)
    model(idx[:, :4], cache=cache)
    chunk, _ = model(idx[:, 4:10], cache=cache)  # six new tokens at once
    torch.testing.assert_close(chunk[:, -1], full[:, 9], rtol=1e-5, atol=1e-5)


def test_sequence_longer_than_block_size_is_refused() -> None:
    model = GPT(TINY)
    with pytest.raises(AssertionError, match="longer than block_size"):
        model(torch.zeros((1, TINY.block_size + 1), dtype=torch.long))


def test_optimizer_decays_matrices_only() -> None:
    """The optimizer a gpt2-arch run trains with (optimizers.build_optimizer): nanoGPT's AdamW."""
    model = GPT(TINY)
    cfg = TrainConfig(weight_decay=0.1, learning_rate=1e-3, beta1=0.9, beta2=0.95)
    opt = build_optimizer(model, cfg, "cpu")
    assert isinstance(opt, torch.optim.AdamW)
    decay, no_decay = opt.param_groups
    assert all(p.dim() >= 2 for p in decay["params"]) and decay["weight_decay"] == 0.1
    assert all(p.dim() < 2 for p in no_decay["params"]) and no_decay["weight_decay"] == 0.0
    assert decay["lr"] == 1e-3 and decay["betas"] == (0.9, 0.95)
    assert sum(p.numel() for g in opt.param_groups for p in g["params"]) == sum(
        p.numel() for p in model.parameters()
    )
