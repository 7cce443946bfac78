"""A corpus file to token files: out_dir/train.bin, val.bin (nanoGPT's layout) and meta.json.

A corpus file is UTF-8 text whose documents each end with a NUL (a plain text file is a
corpus of one document, with none; textscan.py). In a corpus with NULs each document is
followed by the tokenizer's end-of-text token, as nanoGPT's openwebtext/prepare.py does;
a plain text file prepares exactly as nanoGPT's char and GPT-2 recipes do.

Streaming passes, so memory stays flat whatever the file's size:
1. scan: validate, count, collect the char vocabulary, decide the split (prepare_scan.py);
2. (bpe only) train: the training documents, or a bounded sample of them (bpe_sample.py);
3. encode: chunk by chunk into temporary files that become out_dir only when all is done
   (prepare_encode.py).
A trained BPE is written beside them as tokenizer.json.
"""

from __future__ import annotations

import os
from pathlib import Path

from worker.engine.data.bpe_sample import BPE_TRAIN_CHARS, train_corpus_bpe
from worker.engine.data.meta import (
    DTYPES,
    META_FILE,
    SPLITS,
    PrepareResult,
    Split,
    read_meta,
    token_memmap,
    write_meta,
)
from worker.engine.data.prepare_encode import encode_splits
from worker.engine.data.prepare_passes import ProgressReport
from worker.engine.data.prepare_scan import scan
from worker.engine.data.textscan import CHUNK_BYTES, file_size
from worker.engine.data.textstats import Progress, TextStats, inspect_text
from worker.engine.errors import ConfigError, DataError
from worker.engine.staging import check_target, staged_directory
from worker.engine.tokenizers.base import Tokenizer
from worker.engine.tokenizers.load import KINDS, CharTokenizer, get_tokenizer
from worker.engine.tokenizers.names import parse_tokenizer_name, tokenizer_name

__all__ = [
    "BPE_TRAIN_CHARS",
    "SPLITS",
    "PrepareResult",
    "Progress",
    "Split",
    "TextStats",
    "check_split",
    "inspect_text",
    "prepare",
    "read_meta",
    "token_memmap",
]

# A training example is one input token and the token that follows it.
MIN_SPLIT_TOKENS = 2
# Share of the time spent in the scan and (bpe) training passes (measured), for a progress
# bar that moves evenly: BPE encoding is slow next to scanning; char-level encoding and
# writing take 4× the scan; training a BPE takes about as long as encoding with it.
_SCAN_SHARE = {"char": 0.2, "gpt2": 0.04, "bpe": 0.03}
_TRAIN_SHARE = {"bpe": 0.4}


def prepare(
    input_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    tokenizer: str = "char",
    vocab_size: int | None = None,
    val_fraction: float = 0.1,
    bpe_train_chars: int | None = None,
    progress: Progress | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> PrepareResult:
    """Tokenizes the corpus input_path into out_dir. Raises ConfigError for bad options and
    DataError for unusable text; either way nothing is left behind.

    Validation split: with enough documents, whole documents (about val_fraction of the
    characters, spread over the corpus); otherwise the last val_fraction of the text (by
    bytes, moved on to the next line or document start). result.split says which.

    tokenizer "bpe" trains a byte-level BPE of at most vocab_size tokens (default 2048) on
    the training split, or on bpe_train_chars characters of it (default BPE_TRAIN_CHARS)
    in evenly spread stretches when it holds more; vocab_size and bpe_train_chars are
    refused for the other kinds. A tokenizer name ("bpe-4096") is accepted too.

    progress(done, total) is called after every chunk and at the end; total is the file's
    size and done an estimate of the bytes' worth of work finished over all passes.
    chunk_bytes bounds the text held at once (memory is a small multiple of it).
    """
    if "-" in tokenizer and vocab_size is None:
        tokenizer, vocab_size = parse_tokenizer_name(tokenizer)
    _check_options(tokenizer, val_fraction, bpe_train_chars)
    name = tokenizer_name(tokenizer, vocab_size)
    check_target(out_dir)
    total = file_size(input_path)
    report = ProgressReport(
        progress, total, _SCAN_SHARE.get(tokenizer, 0.1), _TRAIN_SHARE.get(tokenizer, 0.0)
    )
    found = scan(
        input_path,
        total,
        collect_vocab=tokenizer == "char",
        val_fraction=val_fraction,
        report=report,
        chunk_bytes=chunk_bytes,
    )
    encoder: Tokenizer
    trained: tuple[int, str] | None = None
    if tokenizer == "char":
        encoder = CharTokenizer(found.tally.vocab)
    elif tokenizer == "bpe":
        size = parse_tokenizer_name(name)[1]
        assert size is not None
        bound = BPE_TRAIN_CHARS if bpe_train_chars is None else bpe_train_chars
        encoder, trained = train_corpus_bpe(input_path, found, size, bound, report, chunk_bytes)
    else:
        encoder = get_tokenizer(tokenizer)
    dtype = "uint32" if encoder.vocab_size > 0xFFFF else "uint16"
    with staged_directory(out_dir, last=[META_FILE]) as staging:
        counts, sha256 = encode_splits(
            input_path, staging, encoder, DTYPES[dtype], found, report, chunk_bytes
        )
        _check_lengths(counts)
        plan = found.plan
        result = PrepareResult(
            out_dir=Path(out_dir),
            tokenizer=encoder.kind,
            vocab_size=encoder.vocab_size,
            dtype=dtype,
            train_tokens=counts["train"],
            val_tokens=counts["val"],
            val_fraction=val_fraction,
            split_at_line_boundary=plan.at_line_boundary,
            source_sha256=sha256,
            characters=found.tally.characters,
            lines=found.tally.lines,
            bytes=total,
            train_characters=plan.characters["train"],
            val_characters=plan.characters["val"],
            tokenizer_name=name,
            documents=found.documents,
            split=plan.kind,
            train_documents=plan.documents["train"],
            val_documents=plan.documents["val"],
            eot_id=encoder.eot_id if found.end_of_text else None,
            bpe_train_characters=trained[0] if trained else None,
            bpe_encoder=trained[1] if trained else None,  # type: ignore[arg-type]
        )
        write_meta(result, encoder.to_meta(), staging)
    report.done()
    return result


def check_split(characters: int | None, val_fraction: float) -> None:
    """Refuse a val_fraction that leaves a split of a corpus of `characters` (None: not
    known yet) without a single character, before any work (1e-300 once failed the
    preparation instead)."""
    if characters is None:
        return
    val = characters * val_fraction
    if val < 1 or characters - val < 1:
        empty = "validation" if val < 1 else "training"
        raise ConfigError(
            f"val_fraction {val_fraction:g} of {characters:,} characters leaves the {empty} "
            f"split empty; choose one between {1 / characters:.3g} and "
            f"{1 - 1 / characters:.6g}",
            field="val_fraction",
        )


def _check_options(tokenizer: str, val_fraction: float, bpe_train_chars: int | None) -> None:
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
    if bpe_train_chars is None:
        return
    if tokenizer != "bpe":
        raise ConfigError(
            f"bpe_train_chars is for the bpe tokenizer only; {tokenizer} is not trained",
            field="bpe_train_chars",
        )
    if isinstance(bpe_train_chars, bool) or not isinstance(bpe_train_chars, int):
        raise ConfigError(
            f"bpe_train_chars must be a whole number, not {bpe_train_chars!r}",
            field="bpe_train_chars",
        )
    if bpe_train_chars < 1:
        raise ConfigError(
            f"bpe_train_chars must be at least 1, not {bpe_train_chars}", field="bpe_train_chars"
        )


def _check_lengths(counts: dict[str, int]) -> None:
    if min(counts.values()) >= MIN_SPLIT_TOKENS:
        return
    raise DataError(
        f"the file is too short: it gives {counts['train']} training and {counts['val']} "
        f"validation tokens, and each split needs at least {MIN_SPLIT_TOKENS} (an input and "
        "the token after it); add more text or change val_fraction",
        field="file",
    )
