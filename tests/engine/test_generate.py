"""Generation: the KV cache gives the same tokens as recomputing, and the knobs do their jobs."""

import pytest
import torch

from worker.engine.model.gpt import GPT, GPTConfig
from worker.engine.sampling.generate import (
    Sampling,
    generate_ids,
    generate_rows,
    pick_token,
    window_keep,
)


@pytest.fixture(scope="module")
def model() -> GPT:
    torch.manual_seed(1)
    # a larger init spread than GPT-2's so an untrained model's greedy output is not constant
    model = GPT(GPTConfig(block_size=16, vocab_size=30, n_layer=2, n_head=2, n_embd=32))
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(8.0)
    return model.eval()


def test_greedy_with_cache_equals_recompute_across_window_jumps(model: GPT) -> None:
    # 60 new tokens from a block_size-16 model: the window jumps several times
    greedy = Sampling(temperature=0.0)
    cached = list(generate_ids(model, [1, 2, 3], 60, greedy, use_cache=True))
    recomputed = list(generate_ids(model, [1, 2, 3], 60, greedy, use_cache=False))
    assert cached == recomputed
    assert len(set(cached)) > 3  # the test means something only if the output varies


def test_sampling_with_cache_equals_recompute_for_the_same_seed(model: GPT) -> None:
    sampling = Sampling(temperature=1.0, top_k=10, top_p=0.9)
    runs = [
        list(generate_ids(model, [4], 50, sampling, torch.Generator().manual_seed(7), use_cache=c))
        for c in (True, False)
    ]
    assert runs[0] == runs[1]


def test_prompt_longer_than_block_size_is_cropped(model: GPT) -> None:
    prompt = list(range(25))  # longer than block_size 16
    out = list(generate_ids(model, prompt, 5, Sampling(temperature=0.0)))
    assert len(out) == 5


def test_window_keeps_three_quarters() -> None:
    assert window_keep(256) == 192
    assert window_keep(2) == 1


def test_temperature_zero_is_argmax() -> None:
    logits = torch.tensor([[0.1, 3.0, 2.9]])
    assert pick_token(logits, Sampling(temperature=0.0), None) == 1


def test_vocab_limit_never_emits_padding_ids() -> None:
    logits = torch.tensor([[0.0, 0.0, 50.0, 50.0]])  # padding ids 2, 3 look most likely
    gen = torch.Generator().manual_seed(0)
    picks = {
        pick_token(logits, Sampling(temperature=1.0, top_k=None, vocab_limit=2), gen)
        for _ in range(50)
    }
    assert picks <= {0, 1}
    assert pick_token(logits, Sampling(temperature=0.0, vocab_limit=2), None) in (0, 1)


def test_top_k_one_is_greedy() -> None:
    logits = torch.randn(1, 100, generator=torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(0)
    best = int(logits.argmax())
    assert all(
        pick_token(logits, Sampling(temperature=1.5, top_k=1), gen) == best for _ in range(20)
    )


def test_top_p_keeps_only_the_nucleus() -> None:
    # probabilities ~ 0.6, 0.3, 0.1: top_p 0.5 keeps the first alone, 0.8 the first two
    logits = torch.log(torch.tensor([[0.6, 0.3, 0.1]]))
    gen = torch.Generator().manual_seed(0)
    assert {pick_token(logits, Sampling(1.0, None, 0.5), gen) for _ in range(50)} == {0}
    assert {pick_token(logits, Sampling(1.0, None, 0.8), gen) for _ in range(200)} == {0, 1}


@pytest.mark.parametrize("temperature", [1e-40, 1e-300, 5e-5, 1e-3, 100.0])
@pytest.mark.parametrize(("top_k", "top_p"), [(None, None), (1, None), (1_000_000, 1e-6)])
def test_every_allowed_extreme_picks_a_real_token(temperature, top_k, top_p) -> None:
    """Tiny temperatures once overflowed logits / T to inf and softmax to NaN."""
    logits = torch.tensor([[3.0, 80.0, -50.0, 79.99, float("-inf")]])
    gen = torch.Generator().manual_seed(0)
    sampling = Sampling(temperature=temperature, top_k=top_k, top_p=top_p)
    picks = {pick_token(logits, sampling, gen) for _ in range(20)}
    assert picks <= {0, 1, 2, 3}
    if temperature < 1e-2 or top_k == 1 or top_p == 1e-6:
        assert picks == {1}  # that cold (or that narrow), only the most likely token


def test_a_small_model_decodes_on_one_thread_and_gives_the_threads_back(model: GPT) -> None:
    big = GPT(GPTConfig(block_size=8, vocab_size=30, n_layer=2, n_head=4, n_embd=1024)).eval()
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for each, expected in ((model, 1), (big, 2)):
            seen: list[int] = []
            hook = each.register_forward_pre_hook(
                lambda *_, seen=seen: seen.append(torch.get_num_threads())
            )
            try:
                list(generate_ids(each, [1, 2], 20, Sampling(temperature=0.0)))
            finally:
                hook.remove()
            assert len(seen) > 20 and set(seen) == {expected}  # a jump's re-read included
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_rows_of_a_batch_draw_as_they_would_alone(model: GPT) -> None:
    sampling = Sampling(temperature=1.0, top_k=None)
    alone = [
        list(generate_ids(model, [3, 4], 30, sampling, torch.Generator().manual_seed(seed)))
        for seed in (5, 6, 7)
    ]
    generators = [torch.Generator().manual_seed(seed) for seed in (5, 6, 7)]
    steps = list(generate_rows(model, [3, 4], 30, sampling, generators))
    assert [[tokens[row] for tokens, _ in steps] for row in range(3)] == alone
    assert all(logits.shape == (3, model.config.vocab_size) for _, logits in steps)
