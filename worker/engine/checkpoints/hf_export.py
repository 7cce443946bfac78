"""A checkpoint as a Hugging Face folder: GPT-2 that GPT2LMHeadModel.from_pretrained loads,
or, for a modern-arch model, our own modeling code (modeling_studio_modern.py, named by
config.json's auto_map) that AutoModelForCausalLM loads with trust_remote_code=True.

config.json + model.safetensors always. A GPT-2-tokenizer model also gets the tokenizer
files (vocab.json, merges.txt, ...), rebuilt offline from the shipped ranks, and its
embedding cut to GPT-2's 50257 real ids (a model padded to 50304 never uses the rest). A
char-level model has no Hugging Face tokenizer: its vocabulary goes to
studio_tokenizer.json, with a README saying how to encode and decode. A model with a BPE
trained by prepare gets that tokenizer's own tokenizer.json (Hugging Face's format: it is
what the studio encodes with), which AutoTokenizer loads as a PreTrainedTokenizerFast.

A model trained on a corpus of documents has an end-of-text token (a char model's "\0",
a trained BPE's "<|endoftext|>"): config.json names it as eos_token_id (so transformers'
generate stops at a document's end), and a BPE's tokenizer_config.json as eos_token.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from safetensors.torch import save_file

from worker.engine.checkpoints.files import clean_state_dict
from worker.engine.checkpoints.hf_weights import gpt_to_hf, hf_config
from worker.engine.errors import DataError
from worker.engine.model.build import model_arch
from worker.engine.model.modern import LOGIT_SOFTCAP, ROPE_BASE
from worker.engine.tokenizers.base import END_OF_TEXT
from worker.engine.tokenizers.bpe import TOKENIZER_FILE
from worker.engine.tokenizers.gpt2 import END_OF_TEXT_ID, VOCAB_SIZE
from worker.engine.tokenizers.gpt2_vocab_files import write_tokenizer_files
from worker.engine.tokenizers.load import tokenizer_from_meta

STUDIO_TOKENIZER = "studio_tokenizer.json"
MODERN_MODELING = "modeling_studio_modern.py"  # in worker/engine/assets, shipped as is
_GPT2_GENERATE = (
    "room = model.config.n_positions - ids.shape[1]  # positions the model knows; no sliding "
    "window\nout = model.generate(ids, max_new_tokens=min(200, room), do_sample=True)"
)
_MODERN_GENERATE = "out = model.generate(ids, max_new_tokens=200, do_sample=True)  # slides"
# how the char README loads and runs each arch: class, from_pretrained's extra, generate
_LOADERS = {
    "gpt2": ("GPT2LMHeadModel", "", _GPT2_GENERATE),
    "modern": ("AutoModelForCausalLM", ", trust_remote_code=True", _MODERN_GENERATE),
}

_CHAR_README = """# A character-level GPT in Hugging Face format

`config.json` and `model.safetensors` load with
`transformers.{loader}.from_pretrained(this_folder{loader_args})`. The model reads one id per
character, not GPT-2 tokens, so no Hugging Face tokenizer fits it. `{tokenizer}` holds its
vocabulary: `chars[i]` is the character with id `i`.

```python
import json, torch
from transformers import {loader}
chars = json.load(open("{tokenizer}"))["chars"]
stoi = {{c: i for i, c in enumerate(chars)}}
model = {loader}.from_pretrained("."{loader_args})
ids = torch.tensor([[stoi[c] for c in "ROMEO:"]])
{generate}
print("".join(chars[i] for i in out[0].tolist()))
```

nanoGPT Studio reads the same vocabulary (`nanogpt-studio sample` on the studio checkpoint).
{end_of_text}"""
_CHAR_END_OF_TEXT = """
It was trained on a corpus of documents: `chars[{eot_id}]` is "\\0", the token after each
document (config.json's `eos_token_id`, so `generate` stops at the end of a document).
Studio shows it as `<|endoftext|>`.
"""


def write_hf(checkpoint: dict[str, Any], folder: Path) -> list[str]:
    """Write the Hugging Face files into folder; returns their names."""
    model_args = dict(checkpoint["model_args"])
    tokenizer = checkpoint.get("tokenizer") or {}
    kind = tokenizer.get("kind")
    vocab_size = int(model_args["vocab_size"])
    eos_id = tokenizer_from_meta(tokenizer).eot_id if kind else None
    if kind == "gpt2":
        if vocab_size < VOCAB_SIZE:
            raise DataError(
                f"a GPT-2-tokenizer model needs {VOCAB_SIZE} embeddings; it has {vocab_size}",
                field="ckpt",
            )
        vocab_size, eos_id = VOCAB_SIZE, END_OF_TEXT_ID
    arch = model_arch(model_args)
    state = clean_state_dict(checkpoint["model"])
    names = ["config.json", "model.safetensors"]
    if arch == "modern":
        weights = {
            name: t.detach().to("cpu")[:vocab_size].contiguous().clone()
            if name in ("transformer.wte.weight", "lm_head.weight")
            else t.detach().to("cpu").contiguous().clone()
            for name, t in state.items()
        }
        config = modern_hf_config(model_args, vocab_size=vocab_size, eos_id=eos_id)
        code = resources.files("worker.engine").joinpath("assets", MODERN_MODELING).read_text()
        (folder / MODERN_MODELING).write_text(code, encoding="utf-8")
        names.append(MODERN_MODELING)
    else:
        weights = gpt_to_hf(state, model_args, vocab_size=vocab_size)
        config = hf_config(model_args, vocab_size=vocab_size, eos_id=eos_id)
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    if kind == "bpe":
        names += _write_bpe_files(
            folder, tokenizer, model_max_length=int(model_args["block_size"]), eos_id=eos_id
        )
    elif kind == "gpt2":
        names += write_tokenizer_files(folder, model_max_length=int(model_args["block_size"]))
    elif kind == "char":
        text = json.dumps(tokenizer, ensure_ascii=False, indent=1)
        (folder / STUDIO_TOKENIZER).write_text(text + "\n", encoding="utf-8")
        end_of_text = "" if eos_id is None else _CHAR_END_OF_TEXT.format(eot_id=eos_id)
        loader, loader_args, generate = _LOADERS[arch]
        readme = _CHAR_README.format(
            tokenizer=STUDIO_TOKENIZER,
            end_of_text=end_of_text,
            loader=loader,
            loader_args=loader_args,
            generate=generate,
        )
        (folder / "README.md").write_text(readme, encoding="utf-8")
        names += [STUDIO_TOKENIZER, "README.md"]
    return names


def modern_hf_config(
    model_args: dict[str, Any], *, vocab_size: int, eos_id: int | None
) -> dict[str, Any]:
    """config.json for modeling_studio_modern.py: auto_map names its classes."""
    module = MODERN_MODELING.removesuffix(".py")
    return {
        "architectures": ["StudioModernForCausalLM"],
        "model_type": "studio_modern",
        "auto_map": {
            "AutoConfig": f"{module}.StudioModernConfig",
            "AutoModelForCausalLM": f"{module}.StudioModernForCausalLM",
        },
        "vocab_size": vocab_size,
        "n_layer": model_args["n_layer"],
        "n_head": model_args["n_head"],
        "n_embd": model_args["n_embd"],
        "block_size": model_args["block_size"],
        "logit_softcap": LOGIT_SOFTCAP,
        "rope_base": ROPE_BASE,
        "tie_word_embeddings": False,
        "bos_token_id": eos_id,
        "eos_token_id": eos_id,
        "use_cache": False,
        "torch_dtype": "float32",
    }


def _write_bpe_files(
    folder: Path, tokenizer: dict[str, Any], *, model_max_length: int, eos_id: int | None
) -> list[str]:
    """tokenizer.json as trained, and a tokenizer_config.json naming the fast tokenizer class
    (and "<|endoftext|>" as its eos_token when it has one; otherwise every id is text)."""
    (folder / TOKENIZER_FILE).write_text(tokenizer["tokenizer_json"], encoding="utf-8")
    config: dict[str, Any] = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": model_max_length,
    }
    if eos_id is not None:
        config["eos_token"] = END_OF_TEXT
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return [TOKENIZER_FILE, "tokenizer_config.json"]
