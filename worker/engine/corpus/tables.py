"""CSV and TSV: a header row, then one document per row, from the text column.

Read with the csv module (quotes as Excel and pandas write them, in TSV too), through a
UTF-8 text stream. Rows are numbered as a spreadsheet shows them: the header is row 1.
A row with another number of fields than the header is a bad record (a stray delimiter
would otherwise put the wrong text in the corpus); an empty text cell is an empty document.
Invalid UTF-8 or a csv syntax error ends the build: the reader cannot resume after it.
"""

from __future__ import annotations

import csv
import io
import sys

from worker.engine.corpus.context import Entry, SourceContext
from worker.engine.corpus.fields import EXAMPLES, choose_text_field
from worker.engine.corpus.streams import BLOCK_BYTES
from worker.engine.corpus.writer import Outcome
from worker.engine.errors import DataError


def read_table(entry: Entry, ctx: SourceContext, delimiter: str) -> bool:
    label = ctx.label(entry)
    # The default (128 KiB) would refuse long documents. The limit is process-wide: each
    # build sets its own (builds run one to a process; the value only matters while one runs).
    csv.field_size_limit(min(ctx.limits.max_record_bytes, sys.maxsize))
    buffered = io.BufferedReader(entry.stream, BLOCK_BYTES)  # type: ignore[arg-type]
    lines = io.TextIOWrapper(buffered, encoding="utf-8-sig", newline="")
    rows = csv.reader(lines, delimiter=delimiter)
    number = 1
    try:
        header = next(rows, None)
        if not header:
            if entry.own:
                raise DataError(f"{label} has no header row", field="file")
            ctx.skip(entry.name, "no header row")
            return False
        sample: list[tuple[int, list[str]]] = []
        for row in rows:
            number += 1
            if row:
                sample.append((number, row))
                if len(sample) == EXAMPLES:
                    break
        column = _choose_column(label, header, [row for _, row in sample], ctx)
        ctx.report.used_field(header[column])
        for row_number, row in sample:
            _write(entry, ctx, header, row, row_number, column)
        add_text = ctx.writer.add_text
        width = len(header)
        for row in rows:
            number += 1
            if len(row) == width:
                if add_text(row[column]) is Outcome.EMPTY:
                    ctx.empty(entry, f"row {number}")
            elif row:
                _write(entry, ctx, header, row, number, column)
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{label} row {number + 1}: not UTF-8 text (invalid byte 0x"
            f"{exc.object[exc.start]:02x}); save the file with UTF-8 encoding",
            field="file",
        ) from None
    except csv.Error as exc:
        raise DataError(f"{label} row {number + 1}: not valid CSV: {exc}", field="file") from None
    return True


def _write(
    entry: Entry, ctx: SourceContext, header: list[str], row: list[str], number: int, column: int
) -> None:
    if len(row) != len(header):
        ctx.bad_record(
            entry, f"row {number}", f"{len(row)} fields where the header has {len(header)}"
        )
    elif ctx.writer.add_text(row[column]) is Outcome.EMPTY:
        ctx.empty(entry, f"row {number}")


def _choose_column(
    label: str, header: list[str], sample: list[list[str]], ctx: SourceContext
) -> int:
    examples = {
        name: [row[i] for row in sample if i < len(row) and row[i]] for i, name in enumerate(header)
    }
    # every CSV cell is a string; a column of numbers is no candidate for the text
    text_fields = [n for n in header if not examples[n] or not all(map(_is_number, examples[n]))]
    name = choose_text_field(
        label,
        fields=header,
        text_fields=text_fields,
        examples=examples,
        wanted=ctx.options.text_field,
    )
    return header.index(name)


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True
