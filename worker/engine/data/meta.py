"""What prepare writes beside the token files (meta.json), and reading it back."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from worker.engine.errors import DataError
from worker.engine.tokenizers.bpe import read_tokenizer_file, write_tokenizer_file

META_FORMAT = 1
META_FILE = "meta.json"
SPLITS = ("train", "val")
Split = Literal["train", "val"]
DTYPES = {"uint16": np.uint16, "uint32": np.uint32}
_META_KEYS = ("format", "tokenizer", "vocab_size", "dtype", "train_tokens", "val_tokens")
# What meta.json written before documents means: one document, split at its tail, no
# end-of-text token.
_BEFORE_DOCUMENTS = {
    "documents": 1,
    "split": "tail",
    "train_documents": 1,
    "val_documents": 1,
    "eot_id": None,
    "bpe_train_characters": None,
    "bpe_encoder": None,
}


@dataclass(frozen=True)
class PrepareResult:
    out_dir: Path
    tokenizer: str  # kind
    vocab_size: int
    dtype: str
    train_tokens: int
    val_tokens: int
    val_fraction: float
    split_at_line_boundary: bool  # False: no line break after the split point, cut mid-line
    source_sha256: str
    characters: int  # NULs (document ends) not counted
    lines: int
    bytes: int
    # characters in each split (NULs not counted): with the token counts, the tokens per
    # character that turn a loss in nats per token into bits per character
    train_characters: int
    val_characters: int
    tokenizer_name: str  # "char", "gpt2" or "bpe-<requested vocab_size>"
    documents: int  # in the corpus: NULs, plus one for text after the last (plain text: 1)
    # "documents": val is whole documents spread over the corpus; "tail": the text's end
    split: Literal["documents", "tail"]
    # documents with text in each split (a tail split that cuts one counts it in both)
    train_documents: int
    val_documents: int
    eot_id: int | None  # the token after each document in the .bin files; None: no NULs
    bpe_train_characters: int | None  # characters the BPE was trained on (bpe only)
    bpe_encoder: Literal["tiktoken", "hf"] | None  # what encoded the .bin files (bpe only)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "out_dir": str(self.out_dir)}


def write_meta(result: PrepareResult, tokenizer_meta: dict[str, Any], folder: Path) -> None:
    """folder/meta.json (and tokenizer.json for a bpe)."""
    meta = {
        **result.to_dict(),
        "format": META_FORMAT,
        # the kind and, for char, the vocabulary; a bpe's JSON goes to tokenizer.json
        "tokenizer": write_tokenizer_file(tokenizer_meta, folder),
    }
    del meta["out_dir"]  # the data may move; meta.json describes only what is beside it
    meta_text = json.dumps(meta, ensure_ascii=False, indent=1) + "\n"
    (folder / META_FILE).write_text(meta_text, encoding="utf-8")


def read_meta(data_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """data_dir/meta.json, checked; DataError (field="data_dir") if missing or corrupt.
    Written before documents, it reads as one document split at its tail (and a bpe as
    trained on all its training text and encoded by Hugging Face, as it was then)."""
    path = Path(data_dir) / META_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(
            f"no prepared data in {data_dir} ({META_FILE} is missing)", field="data_dir"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read {path}: {exc}", field="data_dir") from exc
    if not isinstance(meta, dict) or any(key not in meta for key in _META_KEYS):
        raise DataError(f"{path} is not prepared-data metadata", field="data_dir")
    if meta["format"] != META_FORMAT or meta["dtype"] not in DTYPES:
        raise DataError(
            f"{path} has format {meta['format']!r}, dtype {meta['dtype']!r}; "
            f"this version reads format {META_FORMAT}; prepare the data again",
            field="data_dir",
        )
    meta["tokenizer"] = read_tokenizer_file(meta["tokenizer"], data_dir)
    if "documents" not in meta and meta["tokenizer"].get("kind") == "bpe":
        meta["bpe_train_characters"] = meta.get("train_characters")
        meta["bpe_encoder"] = "hf"
    for key, value in _BEFORE_DOCUMENTS.items():
        meta.setdefault(key, value)
    return meta


def token_memmap(data_dir: str | os.PathLike[str], split: Split) -> np.memmap:
    """A read-only view of one split's ids, with the dtype meta.json names."""
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'val', not {split!r}")
    meta = read_meta(data_dir)
    dtype = np.dtype(DTYPES[meta["dtype"]])
    path = Path(data_dir) / f"{split}.bin"
    expected = int(meta[f"{split}_tokens"]) * dtype.itemsize
    actual = path.stat().st_size if path.is_file() else None
    if actual != expected:
        raise DataError(
            f"{path} holds {actual} bytes where meta.json promises {expected}; "
            "prepare the data again",
            field="data_dir",
        )
    return np.memmap(path, dtype=dtype, mode="r")
