"""A checkpoint as a Hugging Face GPT-2 folder that GPT2LMHeadModel.from_pretrained loads.

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
from pathlib import Path
from typing import Any

from safetensors.torch import save_file

from worker.engine.checkpoints.files import clean_state_dict
from worker.engine.checkpoints.hf_weights import gpt_to_hf, hf_config
from worker.engine.errors import DataError
from worker.engine.tokenizers.base import END_OF_TEXT
from worker.engine.tokenizers.bpe import TOKENIZER_FILE
from worker.engine.tokenizers.gpt2 import END_OF_TEXT_ID, VOCAB_SIZE
from worker.engine.tokenizers.gpt2_vocab_files import write_tokenizer_files
from worker.engine.tokenizers.load import tokenizer_from_meta

STUDIO_TOKENIZER = "studio_tokenizer.json"

_CHAR_README = """# A character-level GPT in Hugging Face GPT-2 format

`config.json` and `model.safetensors` load with
`transformers.GPT2LMHeadModel.from_pretrained(this_folder)`. The model reads one id per
character, not GPT-2 tokens, so no Hugging Face tokenizer fits it. `{tokenizer}` holds its
vocabulary: `chars[i]` is the character with id `i`.

```python
import json, torch
from transformers import GPT2LMHeadModel
chars = json.load(open("{tokenizer}"))["chars"]
stoi = {{c: i for i, c in enumerate(chars)}}
model = GPT2LMHeadModel.from_pretrained(".")
ids = torch.tensor([[stoi[c] for c in "ROMEO:"]])
room = model.config.n_positions - ids.shape[1]  # positions the model knows; no sliding window
out = model.generate(ids, max_new_tokens=min(200, room), do_sample=True)
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
    weights = gpt_to_hf(clean_state_dict(checkpoint["model"]), model_args, vocab_size=vocab_size)
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    config = hf_config(model_args, vocab_size=vocab_size, eos_id=eos_id)
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    names = ["config.json", "model.safetensors"]
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
        readme = _CHAR_README.format(tokenizer=STUDIO_TOKENIZER, end_of_text=end_of_text)
        (folder / "README.md").write_text(readme, encoding="utf-8")
        names += [STUDIO_TOKENIZER, "README.md"]
    return names


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
