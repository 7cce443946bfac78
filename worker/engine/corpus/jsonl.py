"""JSON Lines / NDJSON: one record per line, blank lines ignored.

Fast path: a block of whole lines (about 256 KiB) is decoded as UTF-8 at once, and each record
is parsed in place with the json module's C scanner (no bytes or str object per line; per
line the only Python work is finding its end and handing the value on). A block holding
invalid UTF-8 is parsed line by line instead, so the bad line is the one reported.

A line that does not parse is a bad record (its neighbours are unaffected), as is a value
that runs past the end of its line.
"""

from __future__ import annotations

import json
import re

from worker.engine.corpus.context import Entry, SourceContext
from worker.engine.corpus.detect import BOM
from worker.engine.corpus.records import JsonRecords
from worker.engine.corpus.writer import Outcome
from worker.engine.errors import DataError

_SPACE = re.compile(r"[ \t\r\n]*")
_LEADING = " \t\r"
# Read (and decoded) a block at a time: 256 KiB is as fast as 1 MiB and its str, reused
# by the allocator block after block, keeps RSS a little lower.
_READ_BYTES = 256 << 10


class _Lines:
    """Parses lines of decoded text and hands each record to `records`."""

    def __init__(self, ctx: SourceContext, entry: Entry) -> None:
        self._ctx = ctx
        self._entry = entry
        self.records = JsonRecords(ctx, entry, "line")
        self._scan = json.JSONDecoder().scan_once  # the C scanner: (value, end) at an index
        self.number = 0  # lines done

    def parse(self, text: str) -> None:
        """Every line of `text`, which ends with a newline."""
        scan, find, records = self._scan, text.find, self.records
        add_text = self._ctx.writer.add_text
        field = records.ready_field
        number = self.number
        pos = 0
        size = len(text)
        while pos < size:
            eol = find("\n", pos)
            number += 1
            start = pos
            if text[pos] in _LEADING:
                start = _SPACE.match(text, pos, eol).end()  # type: ignore[union-attr]
            if start < eol:
                try:
                    value, end = scan(text, start)
                except StopIteration:
                    self._bad(number, "not JSON: Expecting value", start - pos)
                except json.JSONDecodeError as exc:
                    self._bad(number, f"not JSON: {exc.msg}", min(exc.pos, eol) - pos)
                else:
                    if end < eol and not text[end:eol].isspace():
                        extra = _SPACE.match(text, end, eol).end()  # type: ignore[union-attr]
                        self._bad(number, "not JSON: Extra data", extra - pos)
                    elif end > eol:
                        self._bad(number, "not JSON: the value goes on past its line", None)
                    elif (
                        field is not None
                        and type(value) is dict
                        and type(text_value := value.get(field)) is str
                    ):
                        # the common case, without a call through JsonRecords
                        if add_text(text_value) is Outcome.EMPTY:
                            self._ctx.empty(self._entry, f"line {number}")
                    else:
                        records.add(value, number)
                        field = records.ready_field
            pos = eol + 1
        self.number = number

    def parse_bytes(self, data: bytes) -> None:
        """Lines of `data` (ending with a newline) that may hold invalid UTF-8."""
        for line in data[:-1].split(b"\n"):
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                self.number += 1
                bad = f"invalid byte 0x{line[exc.start]:02x}"
                self._ctx.bad_record(
                    self._entry,
                    f"line {self.number}",
                    f"not UTF-8 text: {bad} (byte {exc.start + 1} of the line)",
                )
                continue
            self.parse(text + "\n")

    def _bad(self, number: int, reason: str, column: int | None) -> None:
        where = "" if column is None else f" (column {column + 1})"
        self._ctx.bad_record(self._entry, f"line {number}", reason + where)


def read_jsonl(entry: Entry, ctx: SourceContext) -> bool:
    lines = _Lines(ctx, entry)
    stream = entry.stream
    limit = ctx.limits.max_record_bytes
    tail = b""  # a line not ended yet
    first = True
    while True:
        block = stream.read(_READ_BYTES)
        if first:
            first = False
            block = block.removeprefix(BOM)
        if not block:
            if tail:
                _parse(lines, tail + b"\n")
            break
        data = tail + block if tail else block
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            tail = data
            if len(tail) > limit:
                raise DataError(
                    f"{ctx.label(entry)} line {lines.number + 1} is longer than {limit} bytes; "
                    "a document this long belongs in a text file of its own",
                    field="file",
                )
            continue
        tail = data[cut:]
        _parse(lines, data[:cut])
    lines.records.finish()
    return True


def _parse(lines: _Lines, data: bytes) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        lines.parse_bytes(data)
        return
    lines.parse(text)
