"""Pydantic's validation errors in plain words, each naming its field: "max_new_tokens must be
at least 1" instead of "Input should be greater than or equal to 1". Every problem of a
request is answered at once (`errors` in the one error shape), not only the first."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

# Where the request data a validation error points at lives; not part of the field name.
_LOCATIONS = {"body", "query", "path", "header", "cookie"}
# Which member of a union a value failed ("gpus.constrained-int", "gpus.list[...]"): not
# part of the field name either.
_UNION_MEMBER = re.compile(r"^(constrained-|function-)|\[")

_KINDS = {
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "int_type": "a whole number",
    "float_parsing": "a number",
    "float_type": "a number",
    "finite_number": "a finite number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "text",
    "dict_type": "an object",
    "model_type": "an object",
    "list_type": "a list",
}


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}" if isinstance(value, int) else str(value)


def field_name(loc: Sequence[object]) -> str | None:
    parts = [
        str(p)
        for i, p in enumerate(loc)
        if p not in _LOCATIONS and not (i > 1 and isinstance(p, str) and _UNION_MEMBER.search(p))
    ]
    return ".".join(parts) or None


def plain_message(error: Mapping[str, Any]) -> str:
    """One error in words, starting with the field it names."""
    field = field_name(tuple(error.get("loc", ())))
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    subject = field or "the request"
    if kind == "extra_forbidden":
        return f"unknown field {field!r}"
    if kind == "missing":
        return f"{subject} is required"
    if kind == "json_invalid":
        return "the body is not valid JSON"
    if kind in _KINDS:
        return f"{subject} must be {_KINDS[kind]}"
    bounds = {
        "greater_than_equal": ("at least", "ge"),
        "greater_than": ("above", "gt"),
        "less_than_equal": ("at most", "le"),
        "less_than": ("below", "lt"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        return f"{subject} must be {words} {_number(ctx.get(key))}"
    if kind == "string_too_long":
        return f"{subject} must be at most {_number(ctx.get('max_length'))} characters long"
    if kind == "string_too_short":
        return f"{subject} must be at least {_number(ctx.get('min_length'))} characters long"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        return (
            f"{subject} must not hold a NUL character"
            if "\\x00" in pattern
            else (f"{subject} must match {pattern}")
        )
    if kind == "literal_error":
        return f"{subject} must be {ctx.get('expected', 'one of the allowed values')}"
    return f"{subject}: {error.get('msg', 'invalid')}"


def plain_errors(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, str | None]]:
    """Every error as {field, message}, in the order pydantic found them, once each."""
    out: list[dict[str, str | None]] = []
    for error in errors:
        item = {"field": field_name(tuple(error.get("loc", ()))), "message": plain_message(error)}
        if item not in out:
            out.append(item)
    return out
