"""Many sources in many formats to one normalized corpus file.

A dataset is a corpus: one or more sources (uploaded files, server-side files and
directories), archives (zip, tar, compressed tars) and compressed streams (gz, bz2, xz,
zst), and structured formats (JSON Lines, JSON arrays, CSV/TSV, Parquet, Arrow), each record
a document. build_corpus streams all of it, in order, into ONE file: UTF-8 documents, each
followed by NUL, except that a corpus of a single document is its bare text (writer.py).

Modules, bottom up: options, errors, report (the interface's data); streams (shared stream
plumbing), guard (counting and bomb limits), detect (formats from magic, text and extension),
names (member names); writer (the corpus file); context (what readers are handed); fields
and records (choosing the text field, JSON records); text, jsonl, json_array, tables,
columnar (the readers); leaves (a plain file by format); containers (archives and
compressed streams); directory (walking a folder); sources (one source); build.
"""

from worker.engine.corpus.build import build_corpus
from worker.engine.corpus.detect import detect_format
from worker.engine.corpus.errors import (
    EmptyCorpusError,
    FieldChoice,
    OutputLimitReached,
    TextFieldError,
)
from worker.engine.corpus.guard import Progress
from worker.engine.corpus.options import ArchiveLimits, CorpusOptions, SourceInput
from worker.engine.corpus.report import CorpusReport, Skipped, SourceReport

__all__ = [
    "ArchiveLimits",
    "CorpusOptions",
    "CorpusReport",
    "EmptyCorpusError",
    "FieldChoice",
    "OutputLimitReached",
    "Progress",
    "Skipped",
    "SourceInput",
    "SourceReport",
    "TextFieldError",
    "build_corpus",
    "detect_format",
]
