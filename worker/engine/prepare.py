"""A text file to token files: out_dir/train.bin, val.bin (nanoGPT's layout) and meta.json.

Streaming passes, so memory stays flat whatever the file's size:
1. scan: validate, count characters and lines, collect the char vocabulary, find the split;
2. (bpe only) train: the training split, streamed into the BPE trainer;
3. encode: chunk by chunk into temporary files that become out_dir only when all is done.
A trained BPE is written beside them as tokenizer.json.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from worker.engine.bpe_tokenizer import read_tokenizer_file, train_bpe, write_tokenizer_file
from worker.engine.errors import ConfigError, DataError
from worker.engine.prepare_passes import ProgressReport, SplitFinder
from worker.engine.staging import check_target, staged_directory
from worker.engine.textscan import CHUNK_BYTES, file_size, iter_text_chunks
from worker.engine.textstats import Progress, TextStats, TextTally, inspect_text
from worker.engine.tokenizer_base import Tokenizer
from worker.engine.tokenizer_names import parse_tokenizer_name, tokenizer_name
from worker.engine.tokenizers import KINDS, CharTokenizer, get_tokenizer

__all__ = [
    "PrepareResult",
    "Progress",
    "TextStats",
    "inspect_text",
    "prepare",
    "read_meta",
    "token_memmap",
]

META_FORMAT = 1
META_FILE = "meta.json"
SPLITS = ("train", "val")
Split = Literal["train", "val"]
DTYPES = {"uint16": np.uint16, "uint32": np.uint32}
# A training example is one input token and the token that follows it.
MIN_SPLIT_TOKENS = 2
# Share of the time spent in the scan and (bpe) training passes (measured), for a progress
# bar that moves evenly: BPE encoding is slow next to scanning; char-level encoding and
# writing take 4× the scan; training a BPE takes about as long as encoding with it.
_SCAN_SHARE = {"char": 0.2, "gpt2": 0.04, "bpe": 0.03}
_TRAIN_SHARE = {"bpe": 0.4}
_META_KEYS = ("format", "tokenizer", "vocab_size", "dtype", "train_tokens", "val_tokens")


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
    characters: int
    lines: int
    bytes: int
    # characters in each split: with the token counts, the tokens per character that turn a
    # loss in nats per token into bits per character
    train_characters: int
    val_characters: int
    tokenizer_name: str  # "char", "gpt2" or "bpe-<requested vocab_size>"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "out_dir": str(self.out_dir)}


def prepare(
    input_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    tokenizer: str = "char",
    vocab_size: int | None = None,
    val_fraction: float = 0.1,
    progress: Progress | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> PrepareResult:
    """Tokenizes input_path into out_dir. The last val_fraction of the text (by bytes, moved
    on to the next line start) is the validation split. Raises ConfigError for bad options and
    DataError for unusable text; either way nothing is left behind.

    tokenizer "bpe" trains a byte-level BPE of at most vocab_size tokens (default 2048) on
    the training split; vocab_size is refused for the other kinds. A tokenizer name
    ("bpe-4096") is accepted too.

    progress(done, total) is called after every chunk and at the end; total is the file's
    size and done an estimate of the bytes' worth of work finished over both passes.
    chunk_bytes bounds the text held at once (memory is a small multiple of it).
    """
    if "-" in tokenizer and vocab_size is None:
        tokenizer, vocab_size = parse_tokenizer_name(tokenizer)
    _check_options(tokenizer, val_fraction)
    name = tokenizer_name(tokenizer, vocab_size)
    check_target(out_dir)
    total = file_size(input_path)
    report = ProgressReport(
        progress, total, _SCAN_SHARE.get(tokenizer, 0.1), _TRAIN_SHARE.get(tokenizer, 0.0)
    )
    scan = _scan(input_path, total, tokenizer, val_fraction, report, chunk_bytes)
    encoder: Tokenizer
    if tokenizer == "char":
        encoder = CharTokenizer(scan.tally.vocab)
    elif tokenizer == "bpe":
        size = parse_tokenizer_name(name)[1]
        assert size is not None
        encoder = train_bpe(_train_texts(input_path, scan.split, report, chunk_bytes), size)
    else:
        encoder = get_tokenizer(tokenizer)
    dtype = "uint32" if encoder.vocab_size > 0xFFFF else "uint16"
    with staged_directory(out_dir, last=[META_FILE]) as staging:
        counts, characters, sha256 = _encode(
            input_path, staging, encoder, dtype, scan.split, report, chunk_bytes
        )
        _check_lengths(counts)
        result = PrepareResult(
            out_dir=Path(out_dir),
            tokenizer=encoder.kind,
            vocab_size=encoder.vocab_size,
            dtype=dtype,
            train_tokens=counts["train"],
            val_tokens=counts["val"],
            val_fraction=val_fraction,
            split_at_line_boundary=scan.split_at_line_boundary,
            source_sha256=sha256,
            characters=scan.tally.characters,
            lines=scan.tally.lines,
            bytes=total,
            train_characters=characters["train"],
            val_characters=characters["val"],
            tokenizer_name=name,
        )
        meta = {
            **result.to_dict(),
            "format": META_FORMAT,
            # the kind and, for char, the vocabulary; a bpe's JSON goes to tokenizer.json
            "tokenizer": write_tokenizer_file(encoder.to_meta(), staging),
        }
        del meta["out_dir"]  # the data may move; meta.json describes only what is beside it
        meta_text = json.dumps(meta, ensure_ascii=False, indent=1) + "\n"
        (staging / META_FILE).write_text(meta_text, encoding="utf-8")
    report.done()
    return result


def read_meta(data_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """data_dir/meta.json, checked; DataError (field="data_dir") if missing or corrupt."""
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


def _check_options(tokenizer: str, val_fraction: float) -> None:
    if tokenizer not in KINDS:
        known = ", ".join(repr(k) for k in KINDS)
        raise ConfigError(
            f"unknown tokenizer {tokenizer!r}; choose one of {known}", field="tokenizer"
        )
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, int | float):
        raise ConfigError(
            f"val_fraction must be a number, not {val_fraction!r}", field="val_fraction"
        )
    if not 0 < val_fraction < 1:
        raise ConfigError(
            f"val_fraction must be between 0 and 1 (exclusive), not {val_fraction}",
            field="val_fraction",
        )


@dataclass
class _Scan:
    tally: TextTally
    split: int  # file offset where the validation text starts
    split_at_line_boundary: bool


def _scan(
    path: str | os.PathLike[str],
    total: int,
    tokenizer: str,
    val_fraction: float,
    report: ProgressReport,
    chunk_bytes: int,
) -> _Scan:
    tally = TextTally(collect_vocab=tokenizer == "char")
    finder: SplitFinder | None = None
    for chunk in iter_text_chunks(path, chunk_bytes=chunk_bytes):
        if finder is None:  # the first chunk says where the text starts (after any BOM)
            finder = SplitFinder(chunk.start, total, val_fraction)
        tally.add(chunk)
        finder.add(chunk)
        report.scanned(chunk.end)
        del chunk  # freed before the next chunk is read: flat memory
    tally.check_usable()
    assert finder is not None  # a usable file has a chunk
    split, at_line = finder.result()
    return _Scan(tally=tally, split=split, split_at_line_boundary=at_line)


def _train_texts(
    path: str | os.PathLike[str], split: int, report: ProgressReport, chunk_bytes: int
) -> Iterator[str]:
    """The training split's text, chunk by chunk (what a BPE is trained on)."""
    for chunk in iter_text_chunks(path, chunk_bytes=chunk_bytes, cut_at=[split]):
        if chunk.start >= split:
            return
        yield chunk.text
        report.trained(chunk.end, split)
        del chunk  # freed before the next chunk is read: flat memory


def _encode(
    path: str | os.PathLike[str],
    staging: Path,
    encoder: Tokenizer,
    dtype: str,
    split: int,
    report: ProgressReport,
    chunk_bytes: int,
) -> tuple[dict[str, int], dict[str, int], str]:
    """Token counts and character counts per split, and the file's sha256."""
    counts = dict.fromkeys(SPLITS, 0)
    characters = dict.fromkeys(SPLITS, 0)
    sha256 = hashlib.sha256()
    with (staging / "train.bin").open("wb") as train, (staging / "val.bin").open("wb") as val:
        for chunk in iter_text_chunks(path, chunk_bytes=chunk_bytes, cut_at=[split], hasher=sha256):
            ids = encoder.encode_bulk(chunk.text).astype(DTYPES[dtype], copy=False)
            name = "train" if chunk.start < split else "val"
            (train if name == "train" else val).write(ids.data)
            counts[name] += ids.size
            characters[name] += len(chunk.text)
            report.encoded(chunk.end)
            del chunk, ids  # freed before the next chunk is read: flat memory
    return counts, characters, sha256.hexdigest()


def _check_lengths(counts: dict[str, int]) -> None:
    if min(counts.values()) >= MIN_SPLIT_TOKENS:
        return
    raise DataError(
        f"the file is too short: it gives {counts['train']} training and {counts['val']} "
        f"validation tokens, and each split needs at least {MIN_SPLIT_TOKENS} (an input and "
        "the token after it); add more text or change val_fraction",
        field="file",
    )
