"""Sampling from checkpoints: prompts, knobs, UTF-8-safe streaming, padded vocabularies."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from engine_helpers import documents_model, prepared, shakespeare, tiny_config

from worker.engine.checkpoints.files import LATEST, load_checkpoint, save_checkpoint
from worker.engine.errors import ConfigError, DataError
from worker.engine.model.gpt import GPT, GPTConfig
from worker.engine.sampling.generate import Sampling, generate_ids
from worker.engine.sampling.sample import SampleOptions, load_sampler
from worker.engine.tokenizers.load import get_tokenizer
from worker.engine.training.loop import train


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("sample")
    data = prepared(tmp, shakespeare(60_000))
    train(tiny_config(data, tmp / "out", max_iters=150, eval_interval=150))
    return tmp / "out"


def test_greedy_is_deterministic_and_prompt_leads_the_sample(run_dir: Path) -> None:
    sampler = load_sampler(run_dir)
    greedy = SampleOptions(max_new_tokens=40, temperature=0.0)
    first = sampler.generate("ROMEO:", greedy)
    assert first == sampler.generate("ROMEO:", greedy)
    assert first[0].startswith("ROMEO:") and len(first[0]) == len("ROMEO:") + 40


def test_stream_pieces_join_to_the_whole_sample(run_dir: Path) -> None:
    sampler = load_sampler(run_dir)
    options = SampleOptions(max_new_tokens=60, temperature=0.9, top_k=20, seed=5)
    pieces = list(sampler.stream("First", options))
    assert len(pieces) > 1
    assert "First" + "".join(pieces) == sampler.generate("First", options)[0]


def test_seed_changes_the_sample_and_num_samples_gives_that_many(run_dir: Path) -> None:
    sampler = load_sampler(run_dir)
    samples = sampler.generate("\n", SampleOptions(max_new_tokens=50, num_samples=3, seed=1))
    assert len(samples) == 3 and len(set(samples)) == 3


def test_empty_prompt_starts_from_the_start_token(run_dir: Path) -> None:
    sampler = load_sampler(run_dir)
    assert sampler.encode_prompt("") == [sampler.tokenizer.start_id]
    assert len(sampler.generate("", SampleOptions(max_new_tokens=10))[0]) == 10


def test_prompt_with_unknown_characters_names_them(run_dir: Path) -> None:
    sampler = load_sampler(run_dir)
    with pytest.raises(DataError, match="€") as caught:
        sampler.generate("price: 5€", SampleOptions(max_new_tokens=5))
    assert caught.value.field == "prompt"


@pytest.mark.parametrize(
    ("knob", "value"),
    [
        ("max_new_tokens", 0),
        ("temperature", -1.0),
        ("top_k", 0),
        ("top_p", 1.5),
        ("num_samples", 0),
    ],
)
def test_bad_options_name_their_field(run_dir: Path, knob: str, value: float) -> None:
    sampler = load_sampler(run_dir)
    with pytest.raises(ConfigError) as caught:
        sampler.generate("a", SampleOptions(**{knob: value}))
    assert caught.value.field == knob


def test_generation_past_block_size_keeps_going(run_dir: Path) -> None:
    sampler = load_sampler(run_dir)
    block = sampler.model.config.block_size
    text = sampler.generate("a", SampleOptions(max_new_tokens=block * 3, temperature=0.0))[0]
    assert len(text) == 1 + block * 3


def test_padding_ids_are_never_emitted(tmp_path: Path) -> None:
    """A model whose vocabulary is padded past the tokenizer's never yields a padding id."""
    tokenizer = get_tokenizer("char", chars=list("abc\n"))
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=8, vocab_size=16, n_layer=1, n_head=1, n_embd=8))
    with torch.no_grad():
        model.lm_head.weight[4:] = 5.0  # make the padding rows the most likely by far
    _save_bare_checkpoint(model, tokenizer.to_meta(), tmp_path / LATEST)
    sampler = load_sampler(tmp_path)
    text = sampler.generate("a", SampleOptions(max_new_tokens=200, temperature=1.0, top_k=None))
    assert set(text[0]) <= set("abc\n")


def test_gpt2_stream_never_splits_a_character(tmp_path: Path) -> None:
    """Random GPT-2 ids include lone UTF-8 bytes; the stream must decode them as a whole."""
    tokenizer = get_tokenizer("gpt2")
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=32, vocab_size=50304, n_layer=1, n_head=1, n_embd=8))
    _save_bare_checkpoint(model, tokenizer.to_meta(), tmp_path / LATEST)
    sampler = load_sampler(tmp_path)
    options = SampleOptions(max_new_tokens=300, temperature=1.0, top_k=None, seed=3)
    streamed = "".join(sampler.stream("é", options))
    generator = torch.Generator().manual_seed(3)
    sampling = Sampling(temperature=1.0, top_k=None, vocab_limit=tokenizer.vocab_size)
    ids = list(generate_ids(sampler.model, tokenizer.encode("é"), 300, sampling, generator))
    assert streamed == tokenizer.decode(ids)
    # the check means something only if the sample held multi-byte pieces split across ids
    assert any(not _is_utf8(tokenizer.decode_bytes([i])) for i in ids)


def test_stop_at_eot_ends_the_sample_with_its_document(tmp_path: Path) -> None:
    documents_model(tmp_path, eot_logit=1.0)  # the end-of-text token about half the time
    sampler = load_sampler(tmp_path)
    assert sampler.encode_prompt("") == [0]  # an empty prompt starts a document
    stopped_early = 0
    for seed in range(8):
        options = SampleOptions(max_new_tokens=12, temperature=1.0, top_k=None, seed=seed)
        whole = sampler.generate("a", options)[0]
        stopped = sampler.generate("a", replace(options, stop_at_eot=True))[0]
        assert "<|endoftext|>" not in stopped and "\0" not in whole + stopped
        if "<|endoftext|>" in whole:  # the same draws, up to the first end-of-text token
            assert whole.startswith(stopped + "<|endoftext|>")
            stopped_early += 1
        else:
            assert whole == stopped
    assert stopped_early >= 4
    documents_model(tmp_path, eot_logit=50.0)
    always = load_sampler(tmp_path)
    greedy = SampleOptions(max_new_tokens=3, temperature=0.0)
    assert always.generate("ab", greedy) == ["ab" + "<|endoftext|>" * 3]
    assert always.generate("ab", replace(greedy, stop_at_eot=True)) == ["ab"]
    assert list(always.stream("ab", replace(greedy, stop_at_eot=True))) == []


def test_checkpoint_without_tokenizer_is_refused(tmp_path: Path) -> None:
    model = GPT(GPTConfig(block_size=8, vocab_size=16, n_layer=1, n_head=1, n_embd=8))
    _save_bare_checkpoint(model, None, tmp_path / LATEST)
    with pytest.raises(DataError, match="no tokenizer"):
        load_sampler(tmp_path)


def test_missing_checkpoint_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no checkpoint") as caught:
        load_sampler(tmp_path / "nowhere")
    assert caught.value.field == "ckpt"


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _save_bare_checkpoint(model: GPT, tokenizer_meta: dict | None, path: Path) -> None:
    payload = {
        "model": model.state_dict(),
        "model_args": model.config.to_dict(),
        "iter_num": 0,
        "best_val_loss": 1e9,
        "config": {},
    }
    if tokenizer_meta is not None:
        payload["tokenizer"] = tokenizer_meta
    save_checkpoint(payload, path)
    assert load_checkpoint(path)["iter_num"] == 0
