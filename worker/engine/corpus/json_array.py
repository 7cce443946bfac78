"""A JSON file: an array of objects or of strings, parsed item by item as it streams in.

json.load would hold the whole file (and its parsed items) in memory; instead the text is
decoded block by block into a buffer, and each item is taken off its front with
JSONDecoder.raw_decode. An item cut by the end of the buffer fails to parse; then more text
is read (doubling the amount each time, so a long item costs O(n) to find, not O(n²)) and
it is parsed again.

Only the items' values can be bad records (an object without the text field, a number...):
a syntax error leaves no way to tell where the next item starts, so it ends the build with
an error naming the item and its line, whatever on_bad_record says. A file whose top level
is an object is refused as a source's own file and skipped inside a folder or an archive
(package.json in a zipped repository is not a dataset).
"""

from __future__ import annotations

import codecs
import json
import re

from worker.engine.corpus.context import Entry, SourceContext
from worker.engine.corpus.records import JsonRecords
from worker.engine.corpus.streams import BLOCK_BYTES
from worker.engine.errors import DataError

_SPACE = re.compile(r"[ \t\n\r]*")
# A parse error this close to the end of the buffer may only mean the item goes on.
_NEAR_END = 16
_EXPECTED = 'an array of objects or strings ([{"text": ...}, ...]), or JSON Lines'


class _Text:
    """The file's decoded text, read on demand; `buffer[pos:]` is what is left to parse."""

    def __init__(self, entry: Entry, ctx: SourceContext) -> None:
        self._stream = entry.stream
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self._label = ctx.label(entry)
        self.buffer = ""
        self.pos = 0
        self.line = 1  # of buffer[pos]
        self.eof = False

    def more(self, at_least: int = BLOCK_BYTES) -> None:
        """Reads at least `at_least` more bytes (or to the end), keeping buffer[pos:]."""
        pieces = [self.buffer[self.pos :]]
        got = 0
        while got < at_least:
            data = self._stream.read(BLOCK_BYTES)
            try:
                pieces.append(self._decoder.decode(data, final=not data))
            except UnicodeDecodeError as exc:
                raise DataError(
                    f"{self._label} is not UTF-8 text (invalid byte 0x{exc.object[exc.start]:02x} "
                    f"near line {self.line}); save it with UTF-8 encoding",
                    field="file",
                ) from None
            if not data:
                self.eof = True
                break
            got += len(data)
        self.buffer, self.pos = "".join(pieces), 0

    def advance(self, to: int) -> None:
        self.line += self.buffer.count("\n", self.pos, to)
        self.pos = to

    def skip_space(self) -> str:
        """The next non-space character ("" at the end), not consumed."""
        while True:
            match = _SPACE.match(self.buffer, self.pos)
            self.advance(match.end() if match else self.pos)
            if self.pos < len(self.buffer):
                return self.buffer[self.pos]
            if self.eof:
                return ""
            self.more()


def read_json_array(entry: Entry, ctx: SourceContext) -> bool:
    text = _Text(entry, ctx)
    label = ctx.label(entry)
    first = text.skip_space()
    if first != "[":
        what = "one JSON object" if first == "{" else "no JSON array"
        if first == "{" and not entry.own:
            ctx.skip(entry.name, "a JSON object, not a list of documents")
            return False
        raise DataError(f"{label} holds {what}; expected {_EXPECTED}", field="file")
    text.advance(text.pos + 1)
    records = JsonRecords(ctx, entry, "item")
    decode = json.JSONDecoder().raw_decode
    limit = ctx.limits.max_record_bytes
    item = 0
    if text.skip_space() == "]":
        text.advance(text.pos + 1)
    else:
        while True:
            item += 1
            value, end = _parse_item(text, decode, label, item, limit)
            text.advance(end)
            records.add(value, item)
            after = text.skip_space()
            if after == "]":
                text.advance(text.pos + 1)
                break
            if after != ",":
                found = repr(after) if after else "the end of the file"
                raise DataError(
                    f"{label} item {item} (line {text.line}): expected ',' or ']' after it, "
                    f"found {found}",
                    field="file",
                )
            text.advance(text.pos + 1)
    records.finish()
    if text.skip_space():
        raise DataError(f"{label} line {text.line}: more data after the JSON array", field="file")
    return True


def _parse_item(text: _Text, decode, label: str, item: int, limit: int):  # type: ignore[no-untyped-def]
    """The item at text.pos and where it ends, reading more of the file while it is cut."""
    if not text.skip_space():
        raise DataError(f"{label} item {item}: the file ends inside the array", field="file")
    while True:
        try:
            value, end = decode(text.buffer, text.pos)
        except json.JSONDecodeError as exc:
            cut = (
                exc.msg.startswith("Unterminated string") or exc.pos >= len(text.buffer) - _NEAR_END
            )
            if text.eof or not cut:
                line = text.line + text.buffer.count("\n", text.pos, exc.pos)
                raise DataError(
                    f"{label} item {item} (line {line}): not JSON: {exc.msg}", field="file"
                ) from None
        else:
            if end < len(text.buffer) or text.eof:  # a number at the very end may go on
                return value, end
        if len(text.buffer) - text.pos > limit:
            raise DataError(
                f"{label} item {item} (line {text.line}) is longer than {limit} bytes or is "
                "not closed; a document this long belongs in a text file of its own",
                field="file",
            )
        text.more(max(BLOCK_BYTES, len(text.buffer) - text.pos))
