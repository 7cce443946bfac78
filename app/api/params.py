"""Path and query parameters with the bounds the database can hold: a row id is a 64-bit
integer, so a larger one is a 422 naming the parameter, never an overflow inside SQL."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

MAX_ID = 2**63 - 1  # BIGINT on PostgreSQL, INTEGER on SQLite
MAX_OFFSET = 2**31 - 1

RunId = Annotated[int, Path(ge=1, le=MAX_ID, description="A run's id")]
DatasetId = Annotated[int, Path(ge=1, le=MAX_ID, description="A dataset's id")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
AfterId = Annotated[int | None, Query(ge=0, le=MAX_ID, description="Rows after this id")]
DatasetFilter = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only this dataset's")]
