from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

MAX_ID = 2**63 - 1  # row ids: BIGINT on PostgreSQL, INTEGER on SQLite
MAX_ITERS = 2**31 - 1  # iteration counts: INTEGER columns

RowId = Annotated[int, Field(ge=1, le=MAX_ID)]
# A name a user gives (a run's, a dataset's): stored and shown, so no NUL (PostgreSQL
# cannot store one, and no page can show it).
NO_NUL = r"^[^\x00]*$"
GivenName = Annotated[str, Field(max_length=200, pattern=NO_NUL)]


class StrictBody(BaseModel):
    """A request body that refuses fields it does not know (422 naming the field), numbers
    that are not finite (JSON's NaN and Infinity, which Python's parser accepts), and values
    of another JSON type (pydantic's strict mode: no "1" or 1.0 for an id, no "yes" for a
    boolean; an integer is still a number for a float field)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)


class FieldProblem(BaseModel):
    code: str
    message: str
    field: str | None = None


class ChoiceOut(BaseModel):
    value: str
    examples: list[str] = Field(description="What picking it would give (the first records)")


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None
    errors: list[FieldProblem] = Field(
        description="Every problem found, each naming its field; the first is this error's own"
    )
    choices: list[ChoiceOut] | None = Field(
        default=None,
        description="Only when the request must pick a value for `field` (say `text_field`)",
    )


class ErrorBody(BaseModel):
    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (400, "The body cannot be read: not UTF-8"),
        (401, "Missing or wrong token"),
        (404, "Not found"),
        (409, "Conflicts with the current state"),
        (413, "The body is over its limit (1 MiB for JSON)"),
        (422, "Invalid request, naming the field"),
    )
}
