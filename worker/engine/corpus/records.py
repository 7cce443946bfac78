"""JSON records (JSON Lines and JSON arrays) to documents.

A record is an object, whose text field holds the document, or a string, which is the
document. The text field is chosen from the file's first records (fields.py), then held to
for the whole file. A record that gives no document is bad (an error, or skipped and
counted, as options say): an object without the field; a field holding a number, list,
object or boolean; a record that is neither an object nor a string. A null field is an empty
document, like an empty string (counted as skipped, never an error).
"""

from __future__ import annotations

from typing import Any

from worker.engine.corpus.context import Entry, SourceContext
from worker.engine.corpus.fields import EXAMPLES, choose_text_field
from worker.engine.corpus.writer import Outcome

_ABSENT = object()
_JSON_TYPES = {
    bool: "a boolean",
    int: "a number",
    float: "a number",
    list: "a list",
    dict: "an object",
}


def json_type(value: object) -> str:
    return _JSON_TYPES.get(type(value), "null" if value is None else "a string")


class JsonRecords:
    """Writes one file's records in order; `unit` names a record's place ("line", "item")."""

    def __init__(self, ctx: SourceContext, entry: Entry, unit: str) -> None:
        self._ctx = ctx
        self._entry = entry
        self._unit = unit
        self._field: str | None = None
        self._sample: list[tuple[Any, int]] = []  # the first records, while the field is open
        self._add_text = ctx.writer.add_text

    @property
    def ready_field(self) -> str | None:
        """The text field once chosen and every held record written: from then on a
        reader may take `value[field]` itself (a fast path) and call `add` for the rest."""
        return None if self._sample else self._field

    def add(self, value: Any, number: int) -> None:
        """One parsed record; `number` is its line (JSON Lines) or item (JSON array)."""
        if self._field is None and type(value) is dict:
            if len(self._sample) < EXAMPLES:
                self._sample.append((value, number))
                return
            self._choose([value for value, _ in self._sample if type(value) is dict])
        if self._sample:
            self._flush()
        self._write(value, number)

    def finish(self) -> None:
        if self._sample:
            self._flush()

    def _flush(self) -> None:
        sample, self._sample = self._sample, []
        if self._field is None:
            objects = [value for value, _ in sample if type(value) is dict]
            if objects:
                self._choose(objects)
        for value, number in sample:
            self._write(value, number)

    def _choose(self, objects: list[dict[str, Any]]) -> None:
        fields: dict[str, None] = {}  # in order of first appearance
        examples: dict[str, list[str]] = {}
        for record in objects:
            for name, value in record.items():
                fields.setdefault(name)
                if isinstance(value, str):
                    examples.setdefault(name, []).append(value)
        self._field = choose_text_field(
            self._ctx.label(self._entry),
            fields=list(fields),
            text_fields=[name for name in fields if name in examples],
            examples=examples,
            wanted=self._ctx.options.text_field,
        )
        self._ctx.report.used_field(self._field)

    def _write(self, value: Any, number: int) -> None:
        kind = type(value)
        if kind is dict:
            if self._field is None:  # strings so far, the first object now
                self._choose([value])
            text = value.get(self._field, _ABSENT)
            if type(text) is not str:
                self._bad_field(text, number)
                return
        elif kind is str:
            text = value
        else:
            self._ctx.bad_record(
                self._entry,
                f"{self._unit} {number}",
                f"{json_type(value)}, not an object or a string",
            )
            return
        if self._add_text(text) is Outcome.EMPTY:
            self._ctx.empty(self._entry, f"{self._unit} {number}")

    def _bad_field(self, text: object, number: int) -> None:
        where = f"{self._unit} {number}"
        if text is None:
            self._ctx.empty(self._entry, where)
        elif text is _ABSENT:
            self._ctx.bad_record(self._entry, where, f"no field {self._field!r}")
        else:
            self._ctx.bad_record(
                self._entry, where, f"the field {self._field!r} holds {json_type(text)}, not text"
            )
