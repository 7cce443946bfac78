"""A modern-arch model as a Hugging Face folder with its own modeling code: transformers
loads it (trust_remote_code, offline) and gives our logits and our greedy continuation,
past block_size too (both slide the window)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from engine_helpers import shakespeare
from transformers import AutoModelForCausalLM, AutoTokenizer

from worker.engine.checkpoints.export import export_checkpoint
from worker.engine.checkpoints.files import LATEST, save_checkpoint
from worker.engine.model.build import build_model
from worker.engine.sampling.sample import SampleOptions, load_sampler
from worker.engine.tokenizers.base import Tokenizer
from worker.engine.tokenizers.load import get_tokenizer

BLOCK = 16
GREEDY = SampleOptions(max_new_tokens=40, temperature=0.0, top_k=None)  # 40 > BLOCK: slides


def modern_run(run: Path, tokenizer: Tokenizer, vocab_size: int) -> torch.nn.Module:
    """A run folder holding a modern model with random weights big enough that the greedy
    choice is clear (the fresh init's zero projections would make every logit equal)."""
    torch.manual_seed(0)
    shape = {"n_layer": 2, "n_head": 2, "n_embd": 32, "block_size": BLOCK}
    model_args = {
        "arch": "modern",
        **shape,
        "bias": False,
        "vocab_size": vocab_size,
        "dropout": 0.0,
    }
    model = build_model(model_args)
    with torch.no_grad():
        for param in model.parameters():
            param.normal_(0.0, 0.3)
    checkpoint = {"model": model.state_dict(), "model_args": model_args, "iter_num": 3,
                  "best_val_loss": 2.0, "config": {}, "tokenizer": tokenizer.to_meta()}  # fmt: skip
    save_checkpoint(checkpoint, run / LATEST)
    return model.eval()


def load_export(folder: Path) -> torch.nn.Module:
    model = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True)
    return model.eval()


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_char_model_loads_and_continues_as_ours(tmp_path: Path) -> None:
    text = shakespeare(5_000)
    tokenizer = get_tokenizer("char", chars=sorted(set(text)))
    ours = modern_run(tmp_path, tokenizer, tokenizer.vocab_size)
    names = {p.name for p in export_checkpoint(tmp_path, "hf", tmp_path / "hf")}
    assert names == {"config.json", "model.safetensors", "modeling_studio_modern.py",
                     "studio_tokenizer.json", "README.md"}  # fmt: skip
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert config["auto_map"]["AutoModelForCausalLM"].startswith("modeling_studio_modern.")
    readme = (tmp_path / "hf" / "README.md").read_text()
    assert 'AutoModelForCausalLM.from_pretrained(".", trust_remote_code=True)' in readme
    theirs = load_export(tmp_path / "hf")
    assert type(theirs).__name__ == "StudioModernForCausalLM"

    idx = torch.tensor([tokenizer.encode(text[:BLOCK])])
    with torch.no_grad():
        want, _ = ours(idx, targets=idx)  # every position's logits
        torch.testing.assert_close(theirs(idx).logits, want, rtol=0, atol=1e-5)

    prompt = "ROMEO:"
    expected = load_sampler(tmp_path, device="cpu").generate(prompt, GREEDY)[0]
    ids = torch.tensor([tokenizer.encode(prompt)])
    with torch.no_grad():
        out = theirs.generate(ids, max_new_tokens=40, do_sample=False, eos_token_id=None)
    assert out.shape[1] == len(prompt) + 40 > BLOCK
    assert tokenizer.decode(out[0].tolist()) == expected


def test_gpt2_token_model_is_cut_to_gpt2s_ids(tmp_path: Path) -> None:
    tokenizer = get_tokenizer("gpt2")
    modern_run(tmp_path, tokenizer, 50304)
    export_checkpoint(tmp_path, "hf", tmp_path / "hf")
    theirs = load_export(tmp_path / "hf")
    assert theirs.lm_head.weight.shape == (50257, 32)
    hf_tokenizer = AutoTokenizer.from_pretrained(tmp_path / "hf")
    prompt = "ROMEO: Is the day"
    assert hf_tokenizer.encode(prompt) == tokenizer.encode(prompt)
    options = SampleOptions(max_new_tokens=12, temperature=0.0, top_k=None)
    expected = load_sampler(tmp_path, device="cpu").generate(prompt, options)[0]
    ids = torch.tensor([tokenizer.encode(prompt)])
    with torch.no_grad():
        out = theirs.generate(ids, max_new_tokens=12, do_sample=False, eos_token_id=None)
    assert hf_tokenizer.decode(out[0]) == expected
