"""Completions generated together (`worker/engine/sampling/together.py`): requests with
different prompts and settings in one batch give what each gives alone; a gpt2-arch batch
whose padded window would jump goes one request after another instead."""

from __future__ import annotations

import pytest
from engine_helpers import prepared, shakespeare, tiny_config

from worker.engine.sampling.completions import Completion, CompletionRequest, Piece
from worker.engine.sampling.generate import Sampling, generate_batch, generate_rows
from worker.engine.sampling.sample import Sampler, load_sampler
from worker.engine.sampling.together import batches, complete_together
from worker.engine.training.loop import train

# Different prompts (so different pad), temperatures, seeds, stops, log-probs and lengths
REQUESTS = [
    CompletionRequest(prompt="ROMEO:", max_tokens=12, temperature=0.9, n=2, seed=3),
    CompletionRequest(prompt="First Citizen:", max_tokens=6, temperature=0.0),
    CompletionRequest(
        prompt="O", max_tokens=10, temperature=1.2, top_p=0.9, seed=8, stop=("e",), logprobs=2
    ),
    CompletionRequest(prompt="", max_tokens=9, temperature=0.7, seed=5, echo=True, logprobs=0),
    CompletionRequest(prompt="Be", max_tokens=0, echo=True),
]


@pytest.fixture(scope="module", params=["gpt2", "modern"])
def sampler(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Sampler:
    tmp = tmp_path_factory.mktemp(f"together-{request.param}")
    data = prepared(tmp, shakespeare(40_000))
    arch = {"arch": "modern", "bias": False} if request.param == "modern" else {}
    train(tiny_config(data, tmp / "out", max_iters=60, eval_interval=60, **arch))
    return load_sampler(tmp / "out")


def alone(sampler: Sampler, request: CompletionRequest, first: int) -> list[Piece]:
    return [piece for _, piece in complete_together([Completion(sampler, request)], [first])]


def same_pieces(got: list[Piece], want: list[Piece]) -> None:
    """The same text, ends and tokens; log-probabilities equal but for float rounding (a batch's
    matmuls add in another order than one row's)."""
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert (a.index, a.text, a.finish_reason, a.completion_tokens) == (
            b.index, b.text, b.finish_reason, b.completion_tokens)  # fmt: skip
        assert (a.logprobs is None) == (b.logprobs is None)
        if a.logprobs is not None and b.logprobs is not None:
            assert a.logprobs.tokens == b.logprobs.tokens
            assert a.logprobs.text_offset == b.logprobs.text_offset
            assert a.logprobs.token_logprobs == pytest.approx(b.logprobs.token_logprobs, abs=1e-4)
            for x, y in zip(a.logprobs.top_logprobs, b.logprobs.top_logprobs, strict=True):
                assert (x is None and y is None) or x == pytest.approx(y, abs=1e-4)


def test_requests_batched_together_give_what_each_gives_alone(sampler: Sampler) -> None:
    jobs = [Completion(sampler, r) for r in REQUESTS]
    assert batches(jobs) == [[0, 1, 2, 3, 4]]  # prompt + max_tokens fit the 32-token block
    firsts = [0, 0, 0, 0, 0]
    together: dict[int, list[Piece]] = {i: [] for i in range(len(jobs))}
    for number, piece in complete_together(jobs, firsts):
        together[number].append(piece)
    for number, request in enumerate(REQUESTS):
        same_pieces(together[number], alone(sampler, request, firsts[number]))
    # every choice ended once, with its reason and its own length
    ends = [(n, p.index, p.finish_reason) for n, ps in together.items() for p in ps
            if p.finish_reason]  # fmt: skip
    assert len(ends) == sum(r.n for r in REQUESTS)


def test_a_gpt2_batch_whose_window_would_jump_goes_one_request_at_a_time(sampler: Sampler):
    long = CompletionRequest(prompt="ROMEO:", max_tokens=40, temperature=0.8, seed=1)
    short = CompletionRequest(prompt="First Citizen:\nWe are", max_tokens=4, temperature=0.8)
    jobs = [Completion(sampler, long), Completion(sampler, short)]
    expected = [[0, 1]] if sampler.model.slides_window else [[0], [1]]
    assert batches(jobs) == expected
    pieces = list(complete_together(jobs, [0, 0]))
    same_pieces([p for n, p in pieces if n == 0], alone(sampler, long, 0))
    same_pieces([p for n, p in pieces if n == 1], alone(sampler, short, 0))
    # prompts of one length are not padded: their windows jump as each would alone
    twin = CompletionRequest(prompt="JULIET", max_tokens=40, temperature=0.8, seed=2)
    jobs = [Completion(sampler, long), Completion(sampler, twin)]
    assert batches(jobs) == [[0, 1]]
    pieces = list(complete_together(jobs, [0, 0]))
    same_pieces([p for n, p in pieces if n == 1], alone(sampler, twin, 0))


def test_padded_rows_draw_what_each_draws_alone(sampler: Sampler) -> None:
    """The engine under the batch: left-padded prompts, per-row sampling and generators."""
    model = sampler.model
    prompts = [[5, 6, 7], [9], list(range(1, 20))]
    samplings = [Sampling(temperature=t, top_k=None) for t in (0.8, 0.0, 1.1)]

    def generators():
        return [torch_generator(100 + i) for i in range(len(prompts))]

    batched: list[list[int]] = [[] for _ in prompts]
    for tokens, _ in generate_batch(model, prompts, 12, samplings, generators()):
        for row, token in enumerate(tokens):
            batched[row].append(token)
    for row, (prompt, sampling, generator) in enumerate(
        zip(prompts, samplings, generators(), strict=True)
    ):
        single = [t[0] for t, _ in generate_rows(model, prompt, 12, sampling, [generator])]
        assert batched[row] == single, row


def torch_generator(seed: int):
    import torch

    return torch.Generator().manual_seed(seed)
