"""GPT-2 weights in: a Hugging Face folder or a named size from the hub cache loads through
init_from with the same logits as transformers; bad sources are refused, naming the field."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from engine_helpers import prepared, shakespeare, tiny_config
from hf_helpers import all_logits, hub_cache, ours_from_state, tiny_hf_gpt2
from safetensors.torch import load_file, save_file
from transformers import GPT2LMHeadModel

from worker.engine.checkpoints import hf_source
from worker.engine.checkpoints.pretrained import load_pretrained
from worker.engine.config.preflight import find_problems
from worker.engine.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-gpt2")
    tiny_hf_gpt2(folder)
    return folder


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HF_HOME and HF_HUB_CACHE at empty folders, and downloads switched off."""
    cache = tmp_path / "hf-home" / "hub"
    cache.mkdir(parents=True)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def assert_same_logits(folder: Path, init_from: str, *, block_size: int = 64) -> None:
    hf = GPT2LMHeadModel.from_pretrained(folder).eval()
    weights = load_pretrained(init_from, block_size=block_size, dropout=0.0)
    ours = ours_from_state(weights.model_args, weights.state_dict)
    idx = torch.randint(0, 50257, (2, block_size), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = hf(idx).logits
    torch.testing.assert_close(all_logits(ours, idx), expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("activation", ["gelu_new", "gelu"])
def test_local_folder_gives_transformers_logits(tmp_path: Path, activation: str) -> None:
    tiny_hf_gpt2(tmp_path, activation_function=activation)
    assert_same_logits(tmp_path, str(tmp_path))
    weights = load_pretrained(str(tmp_path), block_size=64, dropout=0.1)
    assert weights.model_args == {"n_layer": 2, "n_head": 2, "n_embd": 32, "block_size": 64,
                                  "bias": True, "vocab_size": 50257, "dropout": 0.1}  # fmt: skip


def test_pytorch_model_bin_with_hub_names_and_mask_buffers(hf_folder: Path, tmp_path: Path) -> None:
    """The original hub files: GPT2Model names (no 'transformer.'), attn.bias/masked_bias
    buffers, lm_head.weight, pickled (and loaded with weights_only=True)."""
    state = load_file(hf_folder / "model.safetensors")
    old_style = {k.removeprefix("transformer."): v for k, v in state.items()}
    for layer in range(2):
        old_style[f"h.{layer}.attn.bias"] = torch.ones(1, 1, 64, 64).tril()
        old_style[f"h.{layer}.attn.masked_bias"] = torch.tensor(-1e4)
    old_style["lm_head.weight"] = state["transformer.wte.weight"]
    torch.save(old_style, tmp_path / "pytorch_model.bin")
    (tmp_path / "config.json").write_bytes((hf_folder / "config.json").read_bytes())
    assert_same_logits(hf_folder, str(tmp_path))


def test_block_size_is_cropped_like_nanogpt(hf_folder: Path) -> None:
    hf = GPT2LMHeadModel.from_pretrained(hf_folder).eval()
    weights = load_pretrained(str(hf_folder), block_size=16, dropout=0.0)
    assert weights.model_args["block_size"] == 16
    assert weights.state_dict["transformer.wpe.weight"].shape == (16, 32)
    ours = ours_from_state(weights.model_args, weights.state_dict)
    idx = torch.randint(0, 50257, (1, 16))
    with torch.no_grad():
        torch.testing.assert_close(all_logits(ours, idx), hf(idx).logits, rtol=0, atol=1e-5)


def test_named_size_loads_from_the_hub_cache(
    hf_folder: Path, empty_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub_cache(empty_cache, "openai-community/gpt2", hf_folder)
    assert_same_logits(hf_folder, "gpt2")
    # HF_HUB_CACHE wins over HF_HOME, and the old repo name (models--gpt2) is found too
    other = empty_cache.parent.parent / "other-cache"
    hub_cache(other, "gpt2", hf_folder)
    monkeypatch.setenv("HF_HUB_CACHE", str(other))
    assert load_pretrained("gpt2", block_size=8, dropout=0.0).source.folder.is_relative_to(other)


def test_named_size_missing_says_which_files_and_how_to_fix(
    hf_folder: Path, empty_cache: Path
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_pretrained("gpt2-medium", block_size=64, dropout=0.0)
    message = caught.value.message
    assert caught.value.field == "init_from"
    assert "missing config.json and model.safetensors" in message
    assert "HF_HUB_OFFLINE" in message and "--init_from=/path/to/folder" in message
    assert str(empty_cache / "models--openai-community--gpt2-medium") in message
    # a cache holding only config.json: only the weights are missing
    hub_cache(empty_cache, "openai-community/gpt2-medium", hf_folder, ["config.json"])
    with pytest.raises(ConfigError, match=r"missing model\.safetensors \(or pytorch_model"):
        load_pretrained("gpt2-medium", block_size=64, dropout=0.0)


def test_named_size_downloads_when_allowed(
    hf_folder: Path, empty_cache: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The hub is unreachable here, so hf_hub_download is replaced by a local copy."""
    huggingface_hub = pytest.importorskip("huggingface_hub")
    asked: list[tuple[str, str]] = []

    def fake_download(repo: str, filename: str) -> str:
        asked.append((repo, filename))
        target = tmp_path / "downloaded" / filename
        target.parent.mkdir(exist_ok=True)
        target.write_bytes((hf_folder / filename).read_bytes())
        return str(target)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert_same_logits(hf_folder, "gpt2-xl")
    assert asked[:2] == [("openai-community/gpt2-xl", "config.json"),
                         ("openai-community/gpt2-xl", "model.safetensors")]  # fmt: skip

    def failing_download(repo: str, filename: str) -> str:
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", failing_download)
    with pytest.raises(ConfigError, match=r"the download failed .*name resolution"):
        load_pretrained("gpt2-large", block_size=64, dropout=0.0)


def test_first_shape_mismatch_is_named(hf_folder: Path, tmp_path: Path) -> None:
    state = load_file(hf_folder / "model.safetensors")
    # saved the nn.Linear way round: the Conv1D transpose is missing for this one
    state["transformer.h.1.mlp.c_fc.weight"] = state["transformer.h.1.mlp.c_fc.weight"].t()
    save_file({k: v.contiguous() for k, v in state.items()}, tmp_path / "model.safetensors")
    (tmp_path / "config.json").write_bytes((hf_folder / "config.json").read_bytes())
    with pytest.raises(ConfigError, match=r"transformer\.h\.1\.mlp\.c_fc\.weight has shape"):
        load_pretrained(str(tmp_path), block_size=64, dropout=0.0)
    del state["transformer.h.0.ln_2.bias"]
    state["transformer.h.1.mlp.c_fc.weight"] = state["transformer.h.1.mlp.c_fc.weight"].t()
    save_file({k: v.contiguous() for k, v in state.items()}, tmp_path / "model.safetensors")
    with pytest.raises(ConfigError, match=r"missing weight 'transformer\.h\.0\.ln_2\.bias'"):
        load_pretrained(str(tmp_path), block_size=64, dropout=0.0)


@pytest.mark.parametrize(
    ("change", "words"),
    [({"activation_function": "relu"}, "is not GELU"), ({"n_inner": 64}, "n_inner"),
     ({"vocab_size": 1000}, "vocab_size is 1000"), ({"model_type": "llama"}, "model_type")],
)  # fmt: skip
def test_other_architectures_are_refused(
    hf_folder: Path, tmp_path: Path, change: dict, words: str
) -> None:
    config = json.loads((hf_folder / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, **change}))
    (tmp_path / "model.safetensors").symlink_to(hf_folder / "model.safetensors")
    with pytest.raises(ConfigError, match=words) as caught:
        load_pretrained(str(tmp_path), block_size=64, dropout=0.0)
    assert caught.value.field == "init_from"


def test_preflight_names_the_field(hf_folder: Path, tmp_path: Path) -> None:
    text = shakespeare(20_000)
    char_data = prepared(tmp_path, text, "char")
    gpt2_data = prepared(tmp_path, text, "gpt2")
    folder = str(hf_folder)

    problems = find_problems(tiny_config(char_data, tmp_path / "o", init_from=folder))
    assert [p.field for p in problems] == ["tokenizer"]
    assert isinstance(problems[0], DataError) and "gpt2 tokenizer" in problems[0].message

    problems = find_problems(tiny_config(gpt2_data, tmp_path / "o", init_from=folder,
                                         block_size=128))  # fmt: skip
    assert [p.field for p in problems] == ["block_size"]
    assert "64 positions" in problems[0].message

    problems = find_problems(tiny_config(gpt2_data, tmp_path / "o", init_from="gpt2",
                                         block_size=2048))  # fmt: skip
    assert problems[0].field == "block_size" and "1024 positions" in problems[0].message

    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    problems = find_problems(
        tiny_config(gpt2_data, tmp_path / "o", init_from=str(tmp_path / "half"))
    )
    assert [p.field for p in problems] == ["init_from"]
    assert "missing model.safetensors" in problems[0].message

    assert find_problems(tiny_config(gpt2_data, tmp_path / "o", init_from=folder)) == []


def test_importing_the_engine_touches_no_network() -> None:
    """huggingface_hub (and with it any network client) is imported only to download."""
    code = (
        "import sys; import worker.engine.checkpoints.hf_source, "
        "worker.engine.checkpoints.pretrained, worker.engine.checkpoints.export, "
        "worker.engine.config.preflight, worker.engine.training.state; "
        "print('huggingface_hub' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
    assert hf_source.GPT2_SIZES.keys() == {"gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl"}


def test_without_huggingface_hub_the_message_names_the_extra(
    empty_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Downloads allowed, but the package is not there (None in sys.modules: import fails)."""
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(ConfigError) as caught:
        load_pretrained("gpt2", block_size=64, dropout=0.0)
    assert caught.value.field == "init_from"
    assert "huggingface_hub is not installed (pip install 'nanogpt-studio[hf]')" in (
        caught.value.message
    )
