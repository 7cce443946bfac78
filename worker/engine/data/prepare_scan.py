"""prepare's first pass: validate and count the corpus, and decide how it splits.

Two ways to split (the scan decides, the later passes follow):
- "documents": whole documents held out, chosen by doc_split.DocumentSplit as they stream
  by, when the corpus has enough documents for that to come near val_fraction;
- "tail": the last val_fraction of the bytes, from the next line or document start (a
  plain text file, or a corpus of a few documents), as nanoGPT splits its text.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from worker.engine.data.doc_split import DocumentSplit
from worker.engine.data.documents import DocumentLengths
from worker.engine.data.prepare_passes import ProgressReport, SplitFinder, TailSplit
from worker.engine.data.textscan import iter_text_chunks
from worker.engine.data.textstats import TextTally

SplitKind = Literal["documents", "tail"]


@dataclass(frozen=True)
class SplitPlan:
    kind: SplitKind
    tail: TailSplit  # where a tail split starts (kind "tail")
    by_document: DocumentSplit  # which documents are val (kind "documents")
    characters: dict[str, int]  # per split, NULs not counted
    documents: dict[str, int]  # documents with text in each split (a cut one: in both)

    @property
    def at_line_boundary(self) -> bool:
        return self.kind == "documents" or self.tail.at_line_boundary


@dataclass(frozen=True)
class Scan:
    tally: TextTally
    documents: int
    end_of_text: bool  # the file has NULs: each document is followed by an end-of-text token
    close_last: bool  # ... and the last one has no NUL: prepare adds its end-of-text token
    plan: SplitPlan


def scan(
    path: str | os.PathLike[str],
    total: int,
    *,
    collect_vocab: bool,
    val_fraction: float,
    report: ProgressReport,
    chunk_bytes: int,
) -> Scan:
    tally = TextTally(collect_vocab=collect_vocab)
    lengths = DocumentLengths()
    by_document = DocumentSplit(val_fraction)
    finder: SplitFinder | None = None
    for chunk in iter_text_chunks(path, chunk_bytes=chunk_bytes):
        if finder is None:  # the first chunk says where the text starts (after any BOM)
            finder = SplitFinder(chunk.start, total, val_fraction)
        finder.add(chunk, tally.characters, tally.nuls)
        tally.add(chunk)
        by_document.add(lengths.add(chunk))
        report.scanned(chunk.end)
        del chunk  # freed before the next chunk is read: flat memory
    tally.check_usable()
    assert finder is not None  # a usable file has a chunk
    by_document.add(lengths.finish())
    tail = finder.result(tally.characters, tally.nuls)
    if by_document.usable():
        plan = SplitPlan(
            "documents", tail, by_document, by_document.characters, by_document.documents
        )
    else:
        before = tail.characters_before
        cut = 0 if tail.at_document_start else 1  # the document the split cuts, in both
        plan = SplitPlan(
            "tail",
            tail,
            by_document,
            characters={"train": before, "val": tally.characters - before},
            documents={
                "train": tail.documents_ended_before + cut,
                "val": lengths.count - tail.documents_ended_before,
            },
        )
    return Scan(
        tally=tally,
        documents=lengths.count,
        end_of_text=tally.nuls > 0,
        close_last=tally.nuls > 0 and lengths.unterminated,
        plan=plan,
    )
