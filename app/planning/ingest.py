"""Turn what a user sends into a dataset: uploaded files (several, archives, JSONL, CSV,
Parquet …) or a server path under STUDIO_IMPORT_DIRS, read by the engine's corpus builder into
one corpus file (`input.txt`: the documents, each followed by NUL when there are several),
described, and stored under server-made names.

A corpus whose text fits STUDIO_INSPECT_INLINE_BYTES is read and described before the reply,
so bad input is a 4xx and nothing is stored. A larger one is read up to that limit first —
which finds most problems (a format it cannot read, a missing text field, a bad first record)
while the caller still waits — then stored as received and read by the inspect job."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from app.store.datasets import insert_dataset
from app.store.db import get_db
from app.store.errors import Choice, ChoiceError, InvalidError, UnsupportedMediaError
from app.store.followup import Followup
from app.store.models import Dataset
from app.store.settings import Settings
from worker.engine.errors import DataError, NotTextError

if TYPE_CHECKING:
    from worker.engine.corpus import CorpusOptions

INPUT_NAME = "input.txt"  # the corpus the preparations read
SOURCES_DIR = "sources"  # received files waiting for the inspect job
BadRecords = Literal["error", "skip"]


@dataclass(frozen=True)
class ReadOptions:
    """How a corpus is read: the API's fields, kept with the dataset."""

    text_field: str | None = None
    dedup: bool = False
    on_bad_record: BadRecords = "error"

    def to_dict(self) -> dict[str, Any]:
        return {
            "text_field": self.text_field,
            "dedup": self.dedup,
            "on_bad_record": self.on_bad_record,
        }


@dataclass(frozen=True)
class Source:
    """One thing to read: a received file (ours to move or delete) or a server path."""

    path: Path
    name: str  # the display name; its extension is a hint of the format


@dataclass(frozen=True)
class CorpusRequest:
    name: str
    sources: Sequence[Source]
    options: ReadOptions = field(default_factory=ReadOptions)
    received: bool = True  # the sources are this request's temp files, not a user's paths
    field: str = "file"  # what a refusal names: "file" for uploads, "path" for imports
    at_once: bool = False  # read before the reply whatever its size (the bundled sample)


def corpus_options(
    settings: Settings, options: ReadOptions, max_output_bytes: int | None = None
) -> CorpusOptions:
    from worker.engine.corpus import ArchiveLimits, CorpusOptions

    limits = ArchiveLimits(
        max_members=settings.archive_max_members,
        max_member_bytes=settings.archive_max_member_bytes,
        max_total_bytes=settings.archive_max_total_bytes,
        max_ratio=settings.archive_max_ratio,
    )
    return CorpusOptions(
        text_field=options.text_field,
        dedup=options.dedup,
        on_bad_record=options.on_bad_record,
        limits=limits,
        max_output_bytes=max_output_bytes,
    )


def read_sources(
    settings: Settings,
    sources: Sequence[Source],
    out_path: Path,
    options: CorpusOptions,
    *,
    refusal_field: str = "file",
    progress: Any = None,
) -> dict[str, Any]:
    """The engine's corpus builder, its refusals turned into 4xx naming `refusal_field`."""
    from worker.engine.corpus import SourceInput, TextFieldError, build_corpus

    inputs = [SourceInput(path=s.path, name=s.name) for s in sources]
    try:
        return build_corpus(inputs, out_path, options, progress=progress).to_dict()
    except TextFieldError as exc:
        choices = [Choice(value=c.name, examples=list(c.examples)) for c in exc.choices]
        raise ChoiceError(
            exc.message, field="text_field", code="text_field", choices=choices
        ) from exc
    except DataError as exc:
        raise refusal(exc, refusal_field) from exc


def describe(path: Path, *, field: str = "file", progress: Any = None) -> dict[str, Any]:
    """inspect_text's figures of a corpus file, or the engine's DataError as a 4xx."""
    from worker.engine.data.textstats import inspect_text  # numpy + tiktoken; no torch

    try:
        return inspect_text(path, progress=progress).to_dict()
    except DataError as exc:
        raise refusal(exc, field) from exc


def refusal(exc: DataError, field: str = "file") -> InvalidError | UnsupportedMediaError:
    """A file that is not text at all is 415; text that cannot be used (empty, a bad record, a
    missing column, an archive bomb) is 422. The engine's field wins when it names one of the
    request's options (text_field, …); otherwise the refusal names what was sent."""
    where = exc.field if exc.field not in (None, "file", "data_dir") else field
    if isinstance(exc, NotTextError):
        return UnsupportedMediaError(exc.message, field=where)
    return InvalidError(exc.message, field=where, code="data")


def store_corpus(settings: Settings, request: CorpusRequest) -> tuple[Dataset, Followup]:
    """Read (or, past the inline limit, begin to read) the sources; create the dataset row and
    its folder. The followup wakes the inspect job for a corpus left to it. On any refusal
    nothing is stored, and received files are removed either way."""
    uploads = settings.data_dir / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="corpus-", dir=uploads))
    folder: Path | None = None
    try:
        limit = None if request.at_once else settings.inspect_inline_bytes
        options = corpus_options(settings, request.options, limit)
        report, stats = _read_inline(settings, request, staging / INPUT_NAME, options)
        # a folder's size is the job's to find (its report); files are counted at once
        size = sum(s.path.stat().st_size for s in request.sources if s.path.is_file())
        with get_db().transaction() as session:
            dataset, followup = insert_dataset(
                session,
                name=request.name,
                size=size,
                options=request.options.to_dict(),
                stats=stats,
                report=report,
                inputs=None if stats is not None else _pending(request),
            )
            folder = settings.dataset_dir(dataset.id)
            folder.mkdir(parents=True, exist_ok=True)
            if stats is not None:
                (staging / INPUT_NAME).replace(folder / INPUT_NAME)
            elif request.received:
                (folder / SOURCES_DIR).mkdir()
                for index, source in enumerate(request.sources):
                    source.path.replace(folder / SOURCES_DIR / str(index))
        return dataset, followup
    except BaseException:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if request.received:
            for source in request.sources:
                source.path.unlink(missing_ok=True)


def _read_inline(
    settings: Settings, request: CorpusRequest, out_path: Path, options: CorpusOptions
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(report, stats) when the whole corpus was read within the inline limit, else (None,
    None): what was read so far held no problem, and the job reads the rest."""
    from worker.engine.corpus import OutputLimitReached

    try:
        report = read_sources(
            settings, request.sources, out_path, options, refusal_field=request.field
        )
    except OutputLimitReached:
        return None, None
    return report, describe(out_path, field=request.field)


def _pending(request: CorpusRequest) -> list[dict[str, str]]:
    """What the inspect job reads: received files by their place in the dataset's folder
    (relative), a server path as it is (absolute)."""
    return [
        {
            "path": f"{SOURCES_DIR}/{index}" if request.received else str(source.path),
            "name": source.name,
        }
        for index, source in enumerate(request.sources)
    ]


def pending_sources(
    settings: Settings, dataset_id: int, inputs: list[dict[str, str]]
) -> list[Source]:
    folder = settings.dataset_dir(dataset_id)
    return [Source(path=folder / entry["path"], name=entry["name"]) for entry in inputs]


def clean_name(name: str | None, fallback: str = "input.txt") -> str:
    """A display name only; files are always stored under a server-made name."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    name = "".join(ch for ch in name if ch.isprintable())
    return name[:200] or fallback


def clean_relative_name(name: str | None, fallback: str) -> str:
    """A source's display name: the relative path a folder upload sends ("docs/a.md"), without
    empty, '.' or '..' parts or unprintable characters. It names; it is never a path on disk."""
    parts = (name or "").replace("\\", "/").split("/")
    kept = ["".join(ch for ch in part if ch.isprintable()).strip() for part in parts]
    cleaned = "/".join(p for p in kept if p not in ("", ".", ".."))
    return cleaned[-300:] or fallback


def remove_dataset_files(settings: Settings, dataset_id: int) -> None:
    shutil.rmtree(settings.dataset_dir(dataset_id), ignore_errors=True)
