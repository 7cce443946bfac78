"""Models out: Hugging Face GPT-2 (transformers gives our logits and greedy text), bare
safetensors, and nanoGPT's ckpt.pt + meta.pkl; plus the GPT-2 tokenizer files."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from engine_helpers import documents_model, prepared, shakespeare, tiny_config
from hf_helpers import all_logits, ours_from_state
from safetensors import safe_open
from transformers import AutoTokenizer, GPT2LMHeadModel

from worker.engine.checkpoints.export import export_checkpoint, read_safetensors
from worker.engine.checkpoints.files import (
    LATEST,
    clean_state_dict,
    load_checkpoint,
    save_checkpoint,
)
from worker.engine.checkpoints.nanogpt_import import import_nanogpt
from worker.engine.errors import ConfigError
from worker.engine.model.gpt import GPT, GPTConfig
from worker.engine.sampling.generate import Sampling, generate_ids
from worker.engine.sampling.sample import SampleOptions, load_sampler
from worker.engine.tokenizers.load import GPT2Tokenizer

NANOGPT_MODEL_ARGS = {"n_layer", "n_head", "n_embd", "block_size", "bias", "vocab_size", "dropout"}
GREEDY = SampleOptions(max_new_tokens=20, temperature=0.0, top_k=None)


def trained_run(tmp: Path, tokenizer: str, **knobs: Any) -> Path:
    data = prepared(tmp, shakespeare(30_000), tokenizer)
    out = tmp / f"run-{tokenizer}"
    train(tiny_config(data, out, max_iters=20, eval_interval=20, batch_size=4, **knobs))
    return out


def train(cfg: Any) -> None:
    from worker.engine.training.loop import train as run

    run(cfg)


@pytest.fixture(scope="module")
def gpt2_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_run(tmp_path_factory.mktemp("gpt2"), "gpt2")  # bias=False, vocab 50257


@pytest.fixture(scope="module")
def char_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_run(tmp_path_factory.mktemp("char"), "char", bias=True)


def our_model(run: Path) -> GPT:
    checkpoint = load_checkpoint(run)
    return ours_from_state(checkpoint["model_args"], clean_state_dict(checkpoint["model"]))


def hf_model(folder: Path) -> GPT2LMHeadModel:
    model, info = GPT2LMHeadModel.from_pretrained(folder, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    return model.eval()


@pytest.mark.slow
def test_hf_export_gives_our_logits_and_greedy_text(gpt2_run: Path, tmp_path: Path) -> None:
    files = export_checkpoint(gpt2_run, "hf", tmp_path / "hf")
    assert {f.name for f in files} == {"config.json", "model.safetensors", "vocab.json",
                                       "merges.txt", "tokenizer_config.json",
                                       "special_tokens_map.json"}  # fmt: skip
    ours, theirs = our_model(gpt2_run), hf_model(tmp_path / "hf")
    idx = torch.randint(0, 50257, (2, 32), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(theirs(idx).logits, all_logits(ours, idx), rtol=0, atol=1e-5)

    # greedy continuation: ours (KV cache) and transformers' generate pick the same tokens
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "hf")
    prompt = "ROMEO: Is the day"
    prompt_ids = GPT2Tokenizer().encode(prompt)
    assert tokenizer.encode(prompt) == prompt_ids
    mine = list(generate_ids(ours, prompt_ids, 20, Sampling(temperature=0.0, top_k=None)))
    with torch.no_grad():
        out = theirs.generate(torch.tensor([prompt_ids]), max_new_tokens=20, do_sample=False,
                              pad_token_id=50256)  # fmt: skip
    assert out[0, len(prompt_ids) :].tolist() == mine
    text = "".join(load_sampler(gpt2_run, device="cpu").stream(prompt, GREEDY))
    assert tokenizer.decode(mine) == text


def test_tokenizer_files_encode_like_tiktoken(gpt2_run: Path, tmp_path: Path) -> None:
    export_checkpoint(gpt2_run, "hf", tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    assert tokenizer.eos_token == "<|endoftext|>" and tokenizer.eos_token_id == 50256
    vocab = json.loads((tmp_path / "vocab.json").read_text(encoding="utf-8"))
    assert len(vocab) == 50257 and vocab["Ġthe"] == 262 and vocab["!"] == 0
    assert (tmp_path / "merges.txt").read_text().splitlines()[:3] == ["#version: 0.2", "Ġ t", "Ġ a"]
    text = shakespeare(100_000) + " naïve café — 日本語, emoji 🤖\t tabs\r\n  and   spaces"
    assert tokenizer.encode(text) == GPT2Tokenizer().encode(text)


def test_padded_vocabulary_is_cut_to_gpt2s(tmp_path: Path) -> None:
    """nanoGPT pads GPT-2's 50257 to 50304; the export keeps the real ids only."""
    torch.manual_seed(0)
    args = {"n_layer": 1, "n_head": 2, "n_embd": 32, "block_size": 16, "bias": True,
            "vocab_size": 50304, "dropout": 0.0}  # fmt: skip
    model = GPT(GPTConfig(**args)).eval()
    save_checkpoint(
        {"model": model.state_dict(), "model_args": args, "iter_num": 1, "best_val_loss": 9.0,
         "config": {}, "tokenizer": {"kind": "gpt2"}},
        tmp_path / "run" / LATEST,
    )  # fmt: skip
    export_checkpoint(tmp_path / "run", "hf", tmp_path / "hf")
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["vocab_size"] == 50257
    idx = torch.randint(0, 50257, (1, 16))
    with torch.no_grad():
        expected = all_logits(model, idx)[..., :50257]
        torch.testing.assert_close(hf_model(tmp_path / "hf")(idx).logits, expected, atol=1e-5,
                                   rtol=0)  # fmt: skip


@pytest.mark.slow
def test_char_model_exports_weights_with_its_vocabulary(char_run: Path, tmp_path: Path) -> None:
    files = {f.name for f in export_checkpoint(char_run, "hf", tmp_path)}
    assert files == {"config.json", "model.safetensors", "studio_tokenizer.json", "README.md"}
    chars = json.loads((tmp_path / "studio_tokenizer.json").read_text(encoding="utf-8"))["chars"]
    assert chars == load_checkpoint(char_run)["tokenizer"]["chars"]
    readme = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert "no Hugging Face tokenizer fits it" in readme
    ours, theirs = our_model(char_run), hf_model(tmp_path)
    idx = torch.randint(0, len(chars), (2, 32))
    with torch.no_grad():
        torch.testing.assert_close(theirs(idx).logits, all_logits(ours, idx), rtol=0, atol=1e-5)
    # the README's example runs as written, from the export folder
    example = readme.split("```python\n")[1].split("```")[0]
    done = subprocess.run([sys.executable, "-c", example], cwd=tmp_path, capture_output=True,
                          text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ROMEO:") and len(done.stdout) == 32 + 1  # block_size, \n


def test_safetensors_export_alone_round_trips(char_run: Path, tmp_path: Path) -> None:
    files = export_checkpoint(char_run, "safetensors", tmp_path)
    assert [f.name for f in files] == ["model.safetensors"]
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]  # no pickle anywhere
    with safe_open(str(files[0]), framework="pt") as f:
        assert "lm_head.weight" not in f.keys()  # noqa: SIM118 (tied to wte)
    state, model_args, tokenizer = read_safetensors(files[0])
    checkpoint = load_checkpoint(char_run)
    assert model_args == checkpoint["model_args"] and tokenizer == checkpoint["tokenizer"]
    idx = torch.randint(0, 20, (1, 32))
    expected = all_logits(our_model(char_run), idx)
    torch.testing.assert_close(all_logits(ours_from_state(model_args, state), idx), expected)


def test_nanogpt_export_is_what_nanogpts_sample_py_reads(char_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "export"
    names = {f.name for f in export_checkpoint(char_run, "nanogpt", out)}
    assert names == {"ckpt.pt", "meta.pkl", "README.md"}
    # nanoGPT's sample.py: torch.load, GPTConfig(**model_args), strip _orig_mod., then
    # data/<config['dataset']>/meta.pkl with pickle.load (our own file, so plain pickle here)
    checkpoint = torch.load(out / "ckpt.pt", map_location="cpu", weights_only=True)
    assert {"model", "optimizer", "model_args", "iter_num", "best_val_loss", "config"} <= set(
        checkpoint
    )
    assert set(checkpoint["model_args"]) == NANOGPT_MODEL_ARGS
    assert "resume" not in checkpoint
    dataset = checkpoint["config"]["dataset"]
    assert f"data/{dataset}/meta.pkl" in (out / "README.md").read_text()
    with (out / "meta.pkl").open("rb") as f:
        meta = pickle.load(f)
    assert set(meta) == {"vocab_size", "itos", "stoi"}
    chars = load_checkpoint(char_run)["tokenizer"]["chars"]
    assert meta["vocab_size"] == len(chars) and meta["itos"] == dict(enumerate(chars))
    assert all(meta["stoi"][c] == i for i, c in meta["itos"].items())
    model = ours_from_state(checkpoint["model_args"], checkpoint["model"])
    idx = torch.tensor([[meta["stoi"][c] for c in "ROMEO:"]])
    torch.testing.assert_close(all_logits(model, idx), all_logits(our_model(char_run), idx))

    # and back in: the import gives the same text as the original run
    imported = import_nanogpt(out / "ckpt.pt", tmp_path / "back", meta_path=out / "meta.pkl")
    assert imported.tokenizer == {"kind": "char", "chars": chars}
    again = load_sampler(tmp_path / "back", device="cpu").generate("ROMEO:", GREEDY)
    assert again == load_sampler(char_run, device="cpu").generate("ROMEO:", GREEDY)


def test_gpt2_nanogpt_export_has_no_meta(gpt2_run: Path, tmp_path: Path) -> None:
    names = {f.name for f in export_checkpoint(gpt2_run, "nanogpt", tmp_path)}
    assert names == {"ckpt.pt", "README.md"}  # nanoGPT's sample.py falls back to GPT-2's BPE


@pytest.mark.slow
def test_export_errors_and_cli(gpt2_run: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        export_checkpoint(gpt2_run, "onnx", tmp_path / "x")
    assert caught.value.field == "format" and not (tmp_path / "x").exists()
    done = subprocess.run(
        [sys.executable, "-m", "worker.cli", "export", "--ckpt", str(gpt2_run), "--format",
         "safetensors", "--out", str(tmp_path / "st")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "st" / "model.safetensors")
    done = subprocess.run(
        [sys.executable, "-m", "worker.cli", "export", "--ckpt", str(tmp_path / "none"),
         "--format", "hf", "--out", str(tmp_path / "hf")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 2 and "error: ckpt: no checkpoint" in done.stderr


def test_a_char_model_of_documents_keeps_its_boundary_through_exports(tmp_path: Path) -> None:
    """The boundary "\\0" (the end-of-text token, id 0) survives nanoGPT's meta.pkl and the
    import back, studio_tokenizer.json and safetensors; config.json names it as eos."""
    run = tmp_path / "run"
    documents_model(run, eot_logit=50.0)
    chars = load_checkpoint(run)["tokenizer"]["chars"]
    assert chars[0] == "\0"
    export_checkpoint(run, "nanogpt", tmp_path / "nano")
    with (tmp_path / "nano" / "meta.pkl").open("rb") as f:
        assert pickle.load(f)["itos"][0] == "\0"
    imported = import_nanogpt(
        tmp_path / "nano" / "ckpt.pt", tmp_path / "back", meta_path=tmp_path / "nano" / "meta.pkl"
    )
    assert imported.tokenizer == {"kind": "char", "chars": chars}
    options = SampleOptions(max_new_tokens=3, temperature=0.0, stop_at_eot=True)
    assert load_sampler(tmp_path / "back").generate("ab", options) == ["ab"]
    export_checkpoint(run, "hf", tmp_path / "hf")
    studio = json.loads((tmp_path / "hf" / "studio_tokenizer.json").read_text(encoding="utf-8"))
    assert studio["chars"] == chars
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["eos_token_id"] == 0
    assert '`chars[0]` is "\\0"' in (tmp_path / "hf" / "README.md").read_text(encoding="utf-8")
    files = export_checkpoint(run, "safetensors", tmp_path / "st")
    assert read_safetensors(files[0])[2] == {"kind": "char", "chars": chars}


def test_a_bpe_of_documents_exports_its_end_of_text_token(tmp_path: Path) -> None:
    from tokenizers import Tokenizer as HFTokenizer

    from worker.engine.tokenizers.bpe import train_bpe

    bpe = train_bpe([shakespeare(20_000)], 300, end_of_text=True)
    torch.manual_seed(0)
    args = {"n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 16, "bias": False,
            "vocab_size": 304, "dropout": 0.0}  # fmt: skip
    model = GPT(GPTConfig(**args))
    save_checkpoint(
        {"model": model.state_dict(), "model_args": args, "iter_num": 1, "best_val_loss": 9.0,
         "config": {}, "tokenizer": bpe.to_meta()},
        tmp_path / "run" / LATEST,
    )  # fmt: skip
    export_checkpoint(tmp_path / "run", "hf", tmp_path / "hf")
    theirs = AutoTokenizer.from_pretrained(tmp_path / "hf")
    assert bpe.eot_id == 299
    assert (theirs.eos_token, theirs.eos_token_id) == ("<|endoftext|>", 299)
    text = "ROMEO: naïve 日本語 👋🏽<|endoftext|>JULIET:\r\n\tend  "
    ours = bpe.encode(text)
    assert 299 in ours and theirs(text)["input_ids"] == ours
    assert HFTokenizer.from_file(str(tmp_path / "hf" / "tokenizer.json")).encode(text).ids == ours
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["eos_token_id"] == 299
