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
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from worker.engine.corpus.context import Entry, SourceContext
from worker.engine.corpus.fields import EXAMPLES, choose_text_field
from worker.engine.corpus.streams import BLOCK_BYTES
from worker.engine.corpus.writer import Outcome
from worker.engine.errors import DataError

if TYPE_CHECKING:  # imported when a Parquet or Arrow file is read: the API process that
    # only detects formats need not load pyarrow (and numpy), ~100 ms and ~60 MB
    import pyarrow as pa
    import pyarrow.parquet as pq

# Text per batch: rows become Python strings a batch at a time. Small batches keep memory
# low: pyarrow's allocator holds on to what it freed (8 MiB batches cost 40 MB more RSS
# than 2 MiB ones on a 200 MB Parquet file, for no speed).
_BATCH_BYTES = 2 << 20
_MAX_BATCH_ROWS = 65_536


def read_parquet(entry: Entry, ctx: SourceContext) -> bool:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with _random_access(entry, ctx, ".parquet") as (path, copied):
        try:
            parquet = pq.ParquetFile(path, buffer_size=BLOCK_BYTES, pre_buffer=False)
            schema = parquet.schema_arrow
            name = _choose_column(ctx, entry, schema, lambda: _parquet_head(parquet, schema))
            batches = parquet.iter_batches(
                batch_size=_batch_rows(parquet, schema.get_field_index(name)), columns=[name]
            )
            rows = max(parquet.metadata.num_rows, 1)
            share = None if copied else _Share(ctx, entry, path, lambda r, _: r / rows)
            _write_batches(entry, ctx, batches, share)
        except pa.ArrowException as exc:
            raise _unreadable(ctx, entry, "Parquet", exc) from exc
    return True


def read_arrow(entry: Entry, ctx: SourceContext) -> bool:
    import pyarrow as pa
    import pyarrow.ipc

    try:
        if entry.head.startswith(b"ARROW1"):  # the file format: its index is at the end
            with (
                _random_access(entry, ctx, ".arrow") as (path, copied),
                pa.memory_map(str(path)) as source,
            ):
                reader = pa.ipc.open_file(source)
                count = reader.num_record_batches
                batches = (reader.get_batch(i) for i in range(count))
                share = None if copied else _Share(ctx, entry, path, lambda _, b: b / count)
                _read_ipc(entry, ctx, reader.schema, batches, share)
        elif entry.path is not None:  # the stream format, in a file of its own
            with pa.memory_map(str(entry.path)) as source:
                stream = pa.ipc.open_stream(source)
                size = max(entry.path.stat().st_size, 1)
                share = _Share(ctx, entry, entry.path, lambda _, __: source.tell() / size)
                _read_ipc(entry, ctx, stream.schema, stream, share)
        else:  # the stream format, streaming (its bytes are counted on the way)
            stream = pa.ipc.open_stream(pa.PythonFile(entry.stream, mode="r"))
            _read_ipc(entry, ctx, stream.schema, stream, None)
    except pa.ArrowException as exc:
        raise _unreadable(ctx, entry, "Arrow", exc) from exc
    return True


class _Share:
    """Counts a file that pyarrow reads itself (so no byte of it passes our counting
    streams) as consumed and produced, in proportion to the work done."""

    def __init__(
        self,
        ctx: SourceContext,
        entry: Entry,
        path: Path,
        fraction: Callable[[int, int], float],  # (rows done, batches done) -> share done
    ) -> None:
        self._budget = ctx.budget
        self._label = ctx.label(entry)
        self._size = path.stat().st_size
        self._fraction = fraction
        self._counted = 0

    def update(self, rows: int, batches: int) -> None:
        share = int(self._size * min(self._fraction(rows, batches), 1.0)) - self._counted
        if share > 0:
            self._counted += share
            self._budget.consume(share)
            self._budget.produce(share, self._label)


def _read_ipc(
    entry: Entry,
    ctx: SourceContext,
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
    share: _Share | None,
) -> None:
    iterator = iter(batches)
    first = next(iterator, None)
    name = _choose_column(ctx, entry, schema, lambda: first)
    index = schema.get_field_index(name)
    columns = (batch.select([index]) for batch in _chain(first, iterator))
    _write_batches(entry, ctx, columns, share)


def _write_batches(
    entry: Entry, ctx: SourceContext, batches: Iterable[pa.RecordBatch], share: _Share | None
) -> None:
    """Writes column 0 of each batch, row by row; then gives pyarrow's freed memory back (its
    allocator keeps it otherwise, and the describe and prepare passes that follow in the same
    worker process would stand on top of it)."""
    import pyarrow as pa

    add_text = ctx.writer.add_text
    row = 0
    try:
        for done, batch in enumerate(batches, 1):
            for value in batch.column(0).to_pylist():
                row += 1
                if value is None or add_text(value) is Outcome.EMPTY:
                    ctx.empty(entry, f"row {row}")
            if share is not None:
                share.update(row, done)
    finally:
        pa.default_memory_pool().release_unused()


def _choose_column(
    ctx: SourceContext,
    entry: Entry,
    schema: pa.Schema,
    head: Callable[[], pa.RecordBatch | None],  # the first rows, for examples
) -> str:
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
    import pyarrow as pa

    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or _is_string_view(kind)


def _is_string_view(kind: pa.DataType) -> bool:
    import pyarrow as pa

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
    it is a copy (whose bytes were counted on the way)."""
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
