"""A checkpoint as a Hugging Face GPT-2 folder that GPT2LMHeadModel.from_pretrained loads.

config.json + model.safetensors always. A GPT-2-tokenizer model also gets the tokenizer
files (vocab.json, merges.txt, ...), rebuilt offline from the shipped ranks, and its
embedding cut to GPT-2's 50257 real ids (a model padded to 50304 never uses the rest). A
char-level model has no Hugging Face tokenizer: its vocabulary goes to
studio_tokenizer.json, with a README saying how to encode and decode. A model with a BPE
trained by prepare gets that tokenizer's own tokenizer.json (Hugging Face's format: it is
what the studio encodes with), which AutoTokenizer loads as a PreTrainedTokenizerFast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors.torch import save_file

from worker.engine.bpe_tokenizer import TOKENIZER_FILE
from worker.engine.checkpoint import clean_state_dict
from worker.engine.errors import DataError
from worker.engine.gpt2_tokenizer import END_OF_TEXT_ID, VOCAB_SIZE
from worker.engine.gpt2_vocab_files import write_tokenizer_files
from worker.engine.hf_weights import gpt_to_hf, hf_config

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
"""


def write_hf(checkpoint: dict[str, Any], folder: Path) -> list[str]:
    """Write the Hugging Face files into folder; returns their names."""
    model_args = dict(checkpoint["model_args"])
    tokenizer = checkpoint.get("tokenizer") or {}
    kind = tokenizer.get("kind")
    vocab_size, eos_id = int(model_args["vocab_size"]), None
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
        names += _write_bpe_files(folder, tokenizer, model_max_length=int(model_args["block_size"]))
    elif kind == "gpt2":
        names += write_tokenizer_files(folder, model_max_length=int(model_args["block_size"]))
    elif kind == "char":
        text = json.dumps(tokenizer, ensure_ascii=False, indent=1)
        (folder / STUDIO_TOKENIZER).write_text(text + "\n", encoding="utf-8")
        readme = _CHAR_README.format(tokenizer=STUDIO_TOKENIZER)
        (folder / "README.md").write_text(readme, encoding="utf-8")
        names += [STUDIO_TOKENIZER, "README.md"]
    return names


def _write_bpe_files(
    folder: Path, tokenizer: dict[str, Any], *, model_max_length: int
) -> list[str]:
    """tokenizer.json as trained, and a tokenizer_config.json naming the fast tokenizer class
    (no special tokens: every id is text)."""
    (folder / TOKENIZER_FILE).write_text(tokenizer["tokenizer_json"], encoding="utf-8")
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": model_max_length}
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return [TOKENIZER_FILE, "tokenizer_config.json"]
