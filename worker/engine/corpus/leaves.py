"""One plain file or stream (not a container) to documents, by its format."""

from __future__ import annotations

from collections.abc import Callable

from worker.engine.corpus.columnar import read_arrow, read_parquet
from worker.engine.corpus.context import Entry, SourceContext
from worker.engine.corpus.detect import Detection
from worker.engine.corpus.json_array import read_json_array
from worker.engine.corpus.jsonl import read_jsonl
from worker.engine.corpus.tables import read_table
from worker.engine.corpus.text import read_text

# Each returns False when it skipped the entry whole (not text, a JSON object...).
_READERS: dict[str, Callable[[Entry, SourceContext], bool]] = {
    "text": read_text,
    "jsonl": read_jsonl,
    "json": read_json_array,
    "csv": lambda entry, ctx: read_table(entry, ctx, ","),
    "tsv": lambda entry, ctx: read_table(entry, ctx, "\t"),
    "parquet": read_parquet,
    "arrow": read_arrow,
}


def read_leaf(entry: Entry, ctx: SourceContext, detection: Detection) -> None:
    """Writes the entry's documents; a member read whole is counted under its format."""
    if detection.format == "binary":
        ctx.unusable(entry, detection.reason)
        return
    if _READERS[detection.format](entry, ctx) and not entry.own:
        ctx.report.count_member(detection.format)
