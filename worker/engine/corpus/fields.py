"""Which field (JSON) or column (CSV, Parquet, Arrow) holds a file's text.

The rule, per file: options.text_field if given; else a field named `text`, then one named
`content`; else the only string field there is. Anything else is a TextFieldError that lists
the string fields with a few example values, so the user can pick one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from worker.engine.corpus.errors import FieldChoice, TextFieldError

DEFAULT_FIELDS = ("text", "content")
EXAMPLES = 3
_EXAMPLE_CHARS = 200


def example(value: str) -> str:
    return value if len(value) <= _EXAMPLE_CHARS else value[:_EXAMPLE_CHARS] + "…"


def choose_text_field(
    label: str,
    *,
    fields: Sequence[str],
    text_fields: Sequence[str],
    examples: Mapping[str, Sequence[str]],
    wanted: str | None,
    unfit: Mapping[str, str] | None = None,
) -> str:
    """The field to read `label`'s documents from.

    fields: every field the file's first records (or its schema) have, in order;
    text_fields: those holding strings; examples: up to EXAMPLES values of each;
    unfit: fields that can never hold text, with what they hold ("int64"), for the message.
    """
    choices = [FieldChoice(n, [example(v) for v in examples.get(n, ())]) for n in text_fields]
    listed = ", ".join(repr(n) for n in text_fields) or "none"
    if wanted is not None:
        if unfit and wanted in unfit:
            raise TextFieldError(
                f"the field {wanted!r} of {label} holds {unfit[wanted]}, not text; "
                f"its text fields: {listed}",
                choices,
            )
        if wanted in fields:
            return wanted
        raise TextFieldError(
            f"{label} has no field {wanted!r}; its text fields: {listed}; "
            "choose one as the text field",
            choices,
        )
    for name in DEFAULT_FIELDS:
        if name in text_fields:
            return name
    if len(text_fields) == 1:
        return text_fields[0]
    if not text_fields:
        raise TextFieldError(
            f"{label} has no text field: none of its fields ({', '.join(fields) or 'none'}) "
            "holds strings",
            choices,
        )
    raise TextFieldError(
        f"{label} has several text fields ({listed}) and none is named 'text' or 'content'; "
        "choose one as the text field",
        choices,
    )
