"""Parquet and Arrow IPC files (Hugging Face `datasets` writes the Arrow stream format):
the text column, read in record batches, never the whole table.

Both need random access, except the Arrow stream format: a Parquet file is read from its
footer, an Arrow file from its index at the end. So a Parquet or Arrow file found inside an
archive (or a compressed stream) is copied first into a temporary file beside the corpus,
bounded by the member limit like any member, and removed as soon as it has been read. An
Arrow stream is read as it streams.

The column is chosen from the schema (string columns, dictionary-encoded ones included);
a null is an empty document. Rows are numbered from 1 in messages.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from worker.engine.corpus.context import Entry, SourceContext
from worker.engine.corpus.fields import EXAMPLES, choose_text_field
from worker.engine.corpus.streams import BLOCK_BYTES
from worker.engine.corpus.writer import Outcome
from worker.engine.errors import DataError

# Text per batch: rows are turned into Python strings a batch at a time.
_BATCH_BYTES = 2 << 20
_MAX_BATCH_ROWS = 65_536


def read_parquet(entry: Entry, ctx: SourceContext) -> bool:
    with _random_access(entry, ctx, ".parquet") as (path, counted):
        try:
            parquet = pq.ParquetFile(path, buffer_size=BLOCK_BYTES, pre_buffer=False)
            schema = parquet.schema_arrow
            name = _choose_column(ctx, entry, schema, lambda: _parquet_head(parquet, schema))
            batches = parquet.iter_batches(
                batch_size=_batch_rows(parquet, schema.get_field_index(name)), columns=[name]
            )
            _write_batches(entry, ctx, batches, 0, None if counted else (path, parquet))
        except pa.ArrowException as exc:
            raise _unreadable(ctx, entry, "Parquet", exc) from exc
    return True


def read_arrow(entry: Entry, ctx: SourceContext) -> bool:
    if entry.head.startswith(b"ARROW1"):
        with _random_access(entry, ctx, ".arrow") as (path, _), pa.memory_map(str(path)) as source:
            try:
                reader = pa.ipc.open_file(source)
                batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
                _read_ipc(entry, ctx, reader.schema, batches)
            except pa.ArrowException as exc:
                raise _unreadable(ctx, entry, "Arrow", exc) from exc
        return True
    try:
        if entry.path is not None:
            with pa.memory_map(str(entry.path)) as source:
                stream = pa.ipc.open_stream(source)
                _read_ipc(entry, ctx, stream.schema, stream)
        else:
            stream = pa.ipc.open_stream(pa.PythonFile(entry.stream, mode="r"))
            _read_ipc(entry, ctx, stream.schema, stream)
    except pa.ArrowException as exc:
        raise _unreadable(ctx, entry, "Arrow", exc) from exc
    return True


def _read_ipc(
    entry: Entry, ctx: SourceContext, schema: pa.Schema, batches: Iterable[pa.RecordBatch]
) -> None:
    iterator = iter(batches)
    first = next(iterator, None)
    name = _choose_column(ctx, entry, schema, lambda: first)
    index = schema.get_field_index(name)
    columns = (batch.select([index]) for batch in _chain(first, iterator))
    _write_batches(entry, ctx, columns, 0, None)


def _write_batches(
    entry: Entry,
    ctx: SourceContext,
    batches: Iterable[pa.RecordBatch],
    row: int,
    sized: tuple[Path, pq.ParquetFile] | None,
) -> None:
    """Writes column 0 of each batch. `sized`: a file read behind the budget's back, whose
    bytes are counted here in proportion to its rows."""
    add_text = ctx.writer.add_text
    total_rows = sized[1].metadata.num_rows if sized else 0
    size = sized[0].stat().st_size if sized else 0
    counted = 0
    for batch in batches:
        column = batch.column(0)
        for value in column.to_pylist():
            row += 1
            if value is None or add_text(value) is Outcome.EMPTY:
                ctx.empty(entry, f"row {row}")
        if sized and total_rows:
            share = size * row // total_rows - counted
            counted += share
            ctx.budget.consume(share)
            ctx.budget.produce(share, ctx.label(entry))


def _choose_column(ctx: SourceContext, entry: Entry, schema: pa.Schema, head) -> str:  # type: ignore[no-untyped-def]
    fields = list(schema.names)
    text_fields = [f.name for f in schema if _is_string(f.type)]
    unfit = {f.name: str(f.type) for f in schema if not _is_string(f.type)}
    wanted = ctx.options.text_field
    settled = (wanted in text_fields) if wanted is not None else _obvious(text_fields)
    examples: dict[str, list[str]] = {}
    if not settled and text_fields:
        batch = head()
        if batch is not None:
            for name in text_fields:
                values = batch.column(batch.schema.get_field_index(name)).to_pylist()
                examples[name] = [v for v in values[:EXAMPLES] if v is not None]
    name = choose_text_field(
        ctx.label(entry),
        fields=fields,
        text_fields=text_fields,
        examples=examples,
        wanted=wanted,
        unfit=unfit,
    )
    ctx.report.used_field(name)
    return name


def _obvious(text_fields: list[str]) -> bool:
    return "text" in text_fields or "content" in text_fields or len(text_fields) == 1


def _is_string(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or _is_string_view(kind)


def _is_string_view(kind: pa.DataType) -> bool:
    check = getattr(pa.types, "is_string_view", None)
    return bool(check and check(kind))


def _parquet_head(parquet: pq.ParquetFile, schema: pa.Schema) -> pa.RecordBatch | None:
    names = [f.name for f in schema if _is_string(f.type)]
    return next(parquet.iter_batches(batch_size=EXAMPLES, columns=names), None)


def _batch_rows(parquet: pq.ParquetFile, index: int) -> int:
    """Rows per batch for about _BATCH_BYTES of text, from the column's size in the footer."""
    metadata = parquet.metadata
    if metadata.num_rows == 0 or index < 0:
        return _MAX_BATCH_ROWS
    size = sum(
        metadata.row_group(g).column(index).total_uncompressed_size
        for g in range(metadata.num_row_groups)
    )
    per_row = max(size // metadata.num_rows, 1)
    return max(1, min(_MAX_BATCH_ROWS, _BATCH_BYTES // per_row))


def _chain(
    first: pa.RecordBatch | None, rest: Iterator[pa.RecordBatch]
) -> Iterator[pa.RecordBatch]:
    if first is not None:
        yield first
        yield from rest


@contextlib.contextmanager
def _random_access(entry: Entry, ctx: SourceContext, suffix: str) -> Iterator[tuple[Path, bool]]:
    """A real file holding the entry: its own path, or a temporary copy of a member (made
    through the member's guarded stream, so the member limits bound it). Also says whether
    its bytes were counted on the way (a copy's were)."""
    if entry.path is not None:
        yield entry.path, False
        return
    with tempfile.NamedTemporaryFile(
        dir=ctx.temp_dir, prefix=".corpus-member-", suffix=suffix
    ) as temp:
        shutil.copyfileobj(entry.stream, temp, BLOCK_BYTES)
        temp.flush()
        yield Path(temp.name), True


def _unreadable(ctx: SourceContext, entry: Entry, kind: str, exc: Exception) -> DataError:
    return DataError(f"{ctx.label(entry)} is not a readable {kind} file: {exc}", field="file")
