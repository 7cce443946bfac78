"""One source (a file, or a directory of files) read into the corpus, with its report."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from worker.engine.corpus.containers import read_container
from worker.engine.corpus.context import Entry, SourceContext
from worker.engine.corpus.detect import CONTAINER_FORMATS, detect_head
from worker.engine.corpus.directory import Listing, list_directory
from worker.engine.corpus.guard import Budget, CountingFile
from worker.engine.corpus.leaves import read_leaf
from worker.engine.corpus.options import CorpusOptions, SourceInput
from worker.engine.corpus.report import SourceReport
from worker.engine.corpus.streams import Rewound, read_head
from worker.engine.corpus.writer import CorpusWriter
from worker.engine.errors import DataError


@dataclass
class SourcePlan:
    """A source, looked at before anything is read: its size and, for a folder, its files."""

    source: SourceInput
    bytes: int
    listing: Listing | None  # None: a file


def plan_source(source: SourceInput, options: CorpusOptions) -> SourcePlan:
    path = Path(source.path)
    try:
        info = path.stat()
    except OSError as exc:
        raise DataError(f"cannot read {source.name}: {exc.strerror}", field="file") from exc
    if path.is_dir():
        listing = list_directory(path, source.name, options.limits)
        return SourcePlan(source, listing.bytes, listing)
    if not path.is_file():
        raise DataError(f"{source.name} is not a regular file or a folder", field="file")
    return SourcePlan(source, info.st_size, None)


def read_source(
    plan: SourcePlan,
    writer: CorpusWriter,
    options: CorpusOptions,
    budget: Budget,
    temp_dir: Path,
) -> SourceReport:
    name = plan.source.name
    report = SourceReport(name=name, format="directory", bytes=plan.bytes)
    ctx = SourceContext(name, report, writer, options, budget, temp_dir)
    documents, duplicates = writer.documents, writer.duplicates
    if plan.listing is None:
        report.format = _read_file(name, Path(plan.source.path), plan.bytes, ctx, own=True)
    else:
        for entry_name, reason in plan.listing.skipped:
            report.skip(entry_name, reason)
        for entry_name, path, size in plan.listing.files:
            _read_file(entry_name, path, size, ctx, own=False)
    report.documents = writer.documents - documents
    report.duplicates = writer.duplicates - duplicates
    return report


def _read_file(name: str, path: Path, size: int, ctx: SourceContext, *, own: bool) -> str:
    """Reads a real file (a source's own, or one in a folder); returns its format."""
    ctx.budget.start_file(size)
    with _opened(name, path, ctx, own=own) as file:
        if file is None:
            return "unreadable"
        head, at_eof = read_head(file)  # type: ignore[arg-type]
        detection = detect_head(head, name, at_eof)
        entry = Entry(
            name=name,
            stream=Rewound(head, file),  # type: ignore[arg-type]
            head=head,
            at_eof=at_eof,
            own=own,
            path=path,
            file=file,
        )
        if detection.format in CONTAINER_FORMATS:
            # a plain tar's bytes are its members' bytes; the others' expansion is counted
            file.produced = detection.format == "tar"
            fmt = read_container(detection.format, entry, ctx, "" if own else f"{name}/")
            if not own:
                ctx.report.count_member(fmt)
            return fmt
        read_leaf(entry, ctx, detection)
        return detection.format


@contextlib.contextmanager
def _opened(
    name: str, path: Path, ctx: SourceContext, *, own: bool
) -> Iterator[CountingFile | None]:
    try:
        raw = path.open("rb", buffering=0)
    except OSError as exc:
        if own:
            raise DataError(f"cannot read {name}: {exc.strerror}", field="file") from exc
        ctx.skip(name, f"cannot read: {exc.strerror}")
        yield None
        return
    file = CountingFile(raw, ctx.budget, ctx.label(name), produced=True)  # type: ignore[arg-type]
    with file:
        yield file
