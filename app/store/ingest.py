"""Turn a received upload into a dataset: validate, describe, move under a server-made name.

Small files are described at once with the engine's inspect_text; a large one is sniffed
(first MiB) so a binary file is still refused at once, then described by a job."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from app.store.datasets import insert_dataset
from app.store.db import get_db
from app.store.errors import InvalidError, UnsupportedMediaError
from app.store.followup import Followup
from app.store.models import Dataset
from app.store.settings import Settings
from worker.engine.errors import DataError

INPUT_NAME = "input.txt"
SNIFF_BYTES = 1 << 20


def describe(path: Path) -> dict[str, Any]:
    """inspect_text's figures, or the engine's DataError turned into 415/422 naming the file."""
    from worker.engine.textstats import inspect_text  # numpy + tiktoken; no torch

    try:
        stats = inspect_text(path)
    except DataError as exc:
        raise refusal(exc) from exc
    return stats.to_dict()


def refusal(exc: DataError) -> InvalidError | UnsupportedMediaError:
    # Empty or blank text is the right kind of file with nothing in it; the rest is not text.
    if "empty" in exc.message or "whitespace" in exc.message:
        return InvalidError(exc.message, field="file", code="data")
    return UnsupportedMediaError(exc.message, field="file")


def sniff(path: Path) -> None:
    """Refuse a file whose first MiB is not UTF-8 text (415)."""
    with path.open("rb") as f:
        head = f.read(SNIFF_BYTES)
    if b"\0" in head:
        raise UnsupportedMediaError("not a text file: it holds NUL bytes", field="file")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the sniff boundary
            raise UnsupportedMediaError(
                f"not UTF-8 text: invalid byte at offset {exc.start}", field="file"
            ) from exc


def clean_name(name: str | None, fallback: str = "input.txt") -> str:
    """A display name only; files are always stored under a server-made name."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    name = "".join(ch for ch in name if ch.isprintable())
    return name[:200] or fallback


def store_upload(
    settings: Settings, *, upload_path: Path, size: int, name: str, inline: bool | None = None
) -> tuple[Dataset, Followup]:
    """Create the dataset row and move the file under datasets/<id>/; the followup wakes the
    inspect job for a file too large to describe before the reply."""
    try:
        if size == 0:
            raise InvalidError("the file is empty", field="file", code="data")
        if inline is None:
            inline = size <= settings.inspect_inline_bytes
        if inline:
            stats = describe(upload_path)
        else:
            sniff(upload_path)
            stats = None
        with get_db().transaction() as session:
            dataset, followup = insert_dataset(session, name=name, size=size, stats=stats)
            target = settings.dataset_dir(dataset.id) / INPUT_NAME
            target.parent.mkdir(parents=True, exist_ok=True)
            upload_path.replace(target)
        return dataset, followup
    except BaseException:
        upload_path.unlink(missing_ok=True)
        raise


def remove_dataset_files(settings: Settings, dataset_id: int) -> None:
    shutil.rmtree(settings.dataset_dir(dataset_id), ignore_errors=True)
