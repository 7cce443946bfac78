"""OpenAI-style completions on a loaded checkpoint: n rows in one batch, stop strings held back
and cut, log-probabilities, echo, and the same draws as the sampler."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from engine_helpers import documents_model, prepared, shakespeare, tiny_config

from worker.engine.errors import ConfigError
from worker.engine.sampling.completions import CompletionRequest, Piece
from worker.engine.sampling.sample import SampleOptions, Sampler, load_sampler
from worker.engine.sampling.together import complete
from worker.engine.training.loop import train


@pytest.fixture(scope="module")
def sampler(tmp_path_factory: pytest.TempPathFactory) -> Sampler:
    tmp = tmp_path_factory.mktemp("completions")
    data = prepared(tmp, shakespeare(40_000))
    train(tiny_config(data, tmp / "out", max_iters=60, eval_interval=60))
    return load_sampler(tmp / "out")


def texts(pieces: list[Piece]) -> dict[int, str]:
    joined: dict[int, str] = {}
    for piece in pieces:
        joined[piece.index] = joined.get(piece.index, "") + piece.text
    return joined


def finishes(pieces: list[Piece]) -> dict[int, tuple[str | None, int]]:
    return {p.index: (p.finish_reason, p.completion_tokens) for p in pieces if p.finish_reason}


def test_choices_batched_together_are_the_sampler_s_samples(sampler: Sampler) -> None:
    request = CompletionRequest(prompt="ROMEO:", max_tokens=30, temperature=0.9, n=3, seed=11)
    pieces = list(complete(sampler, request))
    for index in range(3):  # row i draws with seed + i, as sample i of the sampler does
        options = SampleOptions(max_new_tokens=30, temperature=0.9, top_k=None, seed=11)
        assert texts(pieces)[index] == "".join(sampler.stream("ROMEO:", options, index))
    assert finishes(pieces) == dict.fromkeys(range(3), ("length", 30))


def test_a_stop_string_is_cut_and_never_given_out_in_part(sampler: Sampler) -> None:
    greedy = CompletionRequest(prompt="First", max_tokens=40, temperature=0.0)
    whole = texts(list(complete(sampler, greedy)))[0]
    stop = whole[5:7]  # two characters the greedy text holds
    cut = whole[: whole.index(stop)]
    pieces = list(complete(sampler, CompletionRequest(**{**greedy.__dict__, "stop": (stop,)})))
    assert texts(pieces)[0] == cut
    assert pieces[-1].finish_reason == "stop"
    given = ""
    for piece in pieces:  # no piece ever ends in what could still become the stop string
        given += piece.text
        assert stop not in given


def test_logprobs_name_the_token_and_its_top_alternatives(sampler: Sampler) -> None:
    request = CompletionRequest(prompt="ab", max_tokens=8, temperature=0.0, logprobs=3, echo=True)
    pieces = list(complete(sampler, request))
    tokens, logprobs, tops, offsets = [], [], [], []
    for piece in pieces:
        assert piece.logprobs is not None
        tokens += piece.logprobs.tokens
        logprobs += piece.logprobs.token_logprobs
        tops += piece.logprobs.top_logprobs
        offsets += piece.logprobs.text_offset
    text = texts(pieces)[0]
    assert text.startswith("ab") and "".join(tokens) == text
    assert offsets == [sum(len(t) for t in tokens[:i]) for i in range(len(tokens))]
    assert logprobs[0] is None and tops[0] is None  # the first prompt token follows nothing
    for logprob, top in zip(logprobs[1:], tops[1:], strict=True):
        assert len(top) == 3 and all(v <= 0 for v in top.values())
        assert logprob <= 0 and sum(math.exp(v) for v in top.values()) <= 1 + 1e-5
    for token, logprob, top in zip(tokens[2:], logprobs[2:], tops[2:], strict=True):
        assert top[token] == pytest.approx(logprob, abs=1e-5)  # greedy: the best is chosen
        assert logprob == pytest.approx(max(top.values()), abs=1e-5)


def test_the_end_of_a_document_ends_a_choice(tmp_path: Path) -> None:
    documents_model(tmp_path, eot_logit=50.0)  # always the end-of-text token
    pieces = list(complete(load_sampler(tmp_path), CompletionRequest(prompt="a", max_tokens=5)))
    assert texts(pieces) == {0: ""} and finishes(pieces) == {0: ("stop", 1)}


def test_no_tokens_and_bad_requests(sampler: Sampler) -> None:
    pieces = list(complete(sampler, CompletionRequest(prompt="ab", max_tokens=0, echo=True)))
    assert texts(pieces) == {0: "ab"} and finishes(pieces) == {0: ("length", 0)}
    for bad, field in (
        (CompletionRequest(prompt="a", n=0), "n"),
        (CompletionRequest(prompt="a", logprobs=6), "logprobs"),
        (CompletionRequest(prompt="a", stop=("",)), "stop"),
    ):
        with pytest.raises(ConfigError) as caught:
            list(complete(sampler, bad))
        assert caught.value.field == field
