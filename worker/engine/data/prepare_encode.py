"""prepare's last pass: the corpus, chunk by chunk, into train.bin and val.bin.

Each chunk is encoded whole (a NUL becomes the end-of-text token), then its ids go to the
split the scan chose: by file offset for a tail split, by document for a documents split.
In the ids, each end-of-text token ends a document, so routing needs no character offsets:
the ids between two of them are one document's.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import BinaryIO

import numpy as np

from worker.engine.data.doc_split import DocumentSplit
from worker.engine.data.prepare_passes import ProgressReport
from worker.engine.data.prepare_scan import Scan
from worker.engine.data.textscan import iter_text_chunks
from worker.engine.tokenizers.base import Tokenizer

SPLITS = ("train", "val")


def encode_splits(
    path: str | os.PathLike[str],
    staging: Path,
    encoder: Tokenizer,
    dtype: type[np.unsignedinteger],
    scan: Scan,
    report: ProgressReport,
    chunk_bytes: int,
) -> tuple[dict[str, int], str]:
    """Token counts per split, and the file's sha256."""
    plan = scan.plan
    eot = encoder.eot_id if scan.end_of_text else None
    assert not scan.end_of_text or eot is not None, "a corpus of documents needs an eot_id"
    sha256 = hashlib.sha256()
    cuts = [plan.tail.offset] if plan.kind == "tail" else []
    with (staging / "train.bin").open("wb") as train, (staging / "val.bin").open("wb") as val:
        writer = _Writer({"train": train, "val": val})
        router = _DocumentRouter(plan.by_document, eot, writer) if plan.kind != "tail" else None
        last = "train"
        for chunk in iter_text_chunks(path, chunk_bytes=chunk_bytes, cut_at=cuts, hasher=sha256):
            ids = encoder.encode_bulk(chunk.text).astype(dtype, copy=False)
            if router is not None:
                last = router.write(ids)
            else:
                last = "train" if chunk.start < plan.tail.offset else "val"
                writer.write(last, ids)
            report.encoded(chunk.end)
            del chunk, ids  # freed before the next chunk is read: flat memory
        if scan.close_last:  # the last document has no NUL: its end-of-text token all the same
            writer.write(last, np.array([eot], dtype=dtype))
    return writer.counts, sha256.hexdigest()


class _Writer:
    def __init__(self, files: dict[str, BinaryIO]) -> None:
        self._files = files
        self.counts = dict.fromkeys(SPLITS, 0)

    def write(self, split: str, ids: np.ndarray) -> None:
        self._files[split].write(ids.data)
        self.counts[split] += ids.size


class _DocumentRouter:
    """Sends each document's ids (and its end-of-text token) to its split."""

    def __init__(self, by_document: DocumentSplit, eot: int | None, writer: _Writer) -> None:
        assert eot is not None, "a documents split needs end-of-text tokens"
        self._by_document = by_document
        self._eot = eot
        self._writer = writer
        self._document = 0  # the document the next ids belong to
        self._last = "train"

    def write(self, ids: np.ndarray) -> str:
        """Writes a chunk's ids; returns the split of the last document in it."""
        if ids.size == 0:
            return self._last
        ends = np.flatnonzero(ids == self._eot)
        # documents in this chunk: one per end-of-text token, and one under way after the
        # last (unless the chunk ends with a token)
        bounds = np.concatenate(([0], ends + 1, [ids.size]))
        if bounds[-2] == ids.size:
            bounds = bounds[:-1]
        in_val = self._by_document.in_val(self._document, bounds.size - 1)
        # each token's split, then one write per split (not one per run of documents: a
        # corpus of short documents makes hundreds of thousands of runs)
        token_in_val = np.repeat(in_val, np.diff(bounds))
        self._writer.write("train", ids[~token_in_val])
        self._writer.write("val", ids[token_in_val])
        self._document += ends.size
        self._last = "val" if in_val[-1] else "train"
        return self._last
