"""What a BPE is trained on: the training split's documents, or evenly spread stretches of
them when they hold more than bpe_train_chars characters.

Training a BPE costs far more per character than encoding with it, and what it learns
settles long before a 10 GB corpus ends (nanochat trains its tokenizer on a fixed number of
characters too). Below the bound nothing changes: every character of the training split.
Above it, the training text (its documents in order, NULs left out) is seen as a line of
characters, divided into `count` equal periods, and the first `bound / count` characters of
each are kept: deterministic, spread over the whole split, and never more than the bound.
A stretch that starts or ends inside a text is cut only where GPT-2's pre-tokenizer splits
anyway, so the trainer counts the same words the whole text has (it loses at most a word
at each end).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from worker.engine.data.doc_split import DocumentSplit
from worker.engine.data.prepare_passes import ProgressReport
from worker.engine.data.prepare_scan import Scan
from worker.engine.data.textscan import iter_text_chunks
from worker.engine.errors import ConfigError
from worker.engine.tokenizers.base import DOCUMENT_END
from worker.engine.tokenizers.bpe import BPETokenizer, train_bpe
from worker.engine.tokenizers.tiktoken_bulk import safe_cut_after, safe_cut_before

BPE_TRAIN_CHARS = 100_000_000
# Stretches are at least this long (short ones would lose a word at each end too often)
# and at most this many (a thousand places over the split is evenly spread enough).
MIN_STRETCH_CHARS = 4096
MAX_STRETCHES = 1000
# The text on which tiktoken's ids are checked against Hugging Face's before using them.
CHECK_CHARS = 4_000_000


def train_corpus_bpe(
    path: str | os.PathLike[str],
    scan: Scan,
    vocab_size: int,
    bound: int,
    report: ProgressReport,
    chunk_bytes: int,
) -> tuple[BPETokenizer, tuple[int, str]]:
    """prepare's BPE: trained on (a sample of) the training documents, with an end-of-text
    token if the corpus has NULs, and set to encode with tiktoken if that gives Hugging
    Face's ids on a spread sample of the training text. Also returns the characters it was
    trained on and the bulk encoder's name, for meta.json."""
    if scan.end_of_text and vocab_size < 257:
        raise ConfigError(
            f"this corpus has {scan.documents} document(s) ended by NULs, so its BPE needs "
            "an end-of-text token beside the 256 bytes: choose vocab_size 257 or more",
            field="vocab_size",
        )
    train_characters = scan.plan.characters["train"]
    sample = Stretches(train_characters, bound)
    check = Stretches(train_characters, CHECK_CHARS)
    checked: list[str] = []
    texts = training_texts(path, scan, report, chunk_bytes, [sample, check], [checked])
    encoder = train_bpe(texts, vocab_size, end_of_text=scan.end_of_text)
    if encoder.bulk_encoders_agree(checked):
        encoder.use_bulk_encoder("tiktoken")
    return encoder, (sample.taken, encoder.bulk_encoder)


class Stretches:
    """Keeps what falls in evenly spread stretches of at most `bound` characters in all,
    out of a stream of `total` characters handed over text by text."""

    def __init__(self, total: int, bound: int) -> None:
        self.everything = total <= bound
        self._count = max(1, min(MAX_STRETCHES, bound // MIN_STRETCH_CHARS))
        self._length = bound // self._count
        self._period = total / self._count  # >= _length when not everything
        self._position = 0  # characters of the stream handed over so far
        self.taken = 0

    def take(self, text: str) -> list[str]:
        """The parts of `text`, the next in the stream, that fall in a stretch."""
        start, end = self._position, self._position + len(text)
        self._position = end
        if self.everything:
            self.taken += len(text)
            return [text]
        parts = []
        first = max(0, int(start // self._period) - 1)
        for index in range(first, self._count):
            low = round(index * self._period)
            if low >= end:
                break
            high = low + self._length
            if high <= start:
                continue
            # a text starts and ends where the pre-tokenizer splits (a document's ends or a
            # chunk cut); in between, cut only at such a point, inside the stretch
            cut_from = max(low, start) - start
            cut_to = min(high, end) - start
            a = cut_from if cut_from == 0 else safe_cut_after(text, cut_from)
            b = cut_to if cut_to == len(text) else safe_cut_before(text, cut_to, cut_from)
            if a is not None and b is not None and a < b:
                parts.append(text[a:b])
                self.taken += b - a
        return parts


def training_texts(
    path: str | os.PathLike[str],
    scan: Scan,
    report: ProgressReport,
    chunk_bytes: int,
    samples: list[Stretches],
    kept: list[list[str]],
) -> Iterator[str]:
    """Texts for the trainer: what samples[0] keeps of the training documents (each by
    itself, without its NUL); what every other sample keeps goes into the same-index list
    of `kept` (the text tiktoken is checked on)."""
    plan = scan.plan
    tail = plan.kind == "tail"
    done_at = plan.tail.offset if tail else Path(path).stat().st_size
    cuts = [plan.tail.offset] if tail else []
    documents = _TrainDocuments(plan.by_document if not tail else None, scan.end_of_text)
    for chunk in iter_text_chunks(path, chunk_bytes=chunk_bytes, cut_at=cuts):
        if tail and chunk.start >= plan.tail.offset:
            return
        for text in documents.of(chunk.text):
            for sample, into in zip(samples[1:], kept, strict=True):
                into.extend(sample.take(text))
            yield from samples[0].take(text)
        report.trained(chunk.end, done_at)
        del chunk  # freed before the next chunk is read: flat memory


class _TrainDocuments:
    """A chunk's text as the training documents' pieces in it (split at NULs)."""

    def __init__(self, by_document: DocumentSplit | None, end_of_text: bool) -> None:
        self._by_document = by_document  # None: every document is trained on (tail split)
        self._end_of_text = end_of_text
        self._document = 0

    def of(self, text: str) -> list[str]:
        if not self._end_of_text:
            return [text]
        pieces = text.split(DOCUMENT_END)
        if pieces[-1] == "":  # the chunk ends with a NUL: no document under way
            pieces.pop()
        first, self._document = self._document, self._document + text.count(DOCUMENT_END)
        if self._by_document is None:
            return pieces
        in_val = self._by_document.in_val(first, len(pieces)).tolist()
        return [piece for piece, val in zip(pieces, in_val, strict=True) if not val]
