"""build_corpus: every source, in order, into one normalized corpus file (writer.py)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from worker.engine.corpus.errors import EmptyCorpusError
from worker.engine.corpus.guard import Budget, Progress
from worker.engine.corpus.options import CorpusOptions, SourceInput
from worker.engine.corpus.report import CorpusReport, SourceReport
from worker.engine.corpus.sources import plan_source, read_source
from worker.engine.corpus.writer import CorpusWriter
from worker.engine.errors import DataError
from worker.engine.heap import release_freed_memory


def build_corpus(
    inputs: Sequence[SourceInput],
    out_path: Path,
    options: CorpusOptions = CorpusOptions(),  # noqa: B008 (frozen: one shared default is safe)
    progress: Progress | None = None,
) -> CorpusReport:
    """Reads every input in order and writes the normalized corpus to out_path.

    Written to a temporary name beside out_path, fsynced and renamed at the end; on any
    error nothing is left at out_path or the temporary name. Raises DataError naming the
    source (and entry, line or row) for bad input, EmptyCorpusError (a DataError) when no
    document is found, TextFieldError when the text field cannot be chosen, and
    OutputLimitReached past options.max_output_bytes. progress(consumed, total) is called
    every few MB of input and at the end, in bytes of the inputs as given.
    """
    try:
        return _build(inputs, Path(out_path), options, progress)
    finally:
        release_freed_memory()  # the duplicate set and the readers' buffers: gone now


def _build(
    inputs: Sequence[SourceInput],
    out_path: Path,
    options: CorpusOptions,
    progress: Progress | None,
) -> CorpusReport:
    if not inputs:
        raise DataError("no input to build a corpus from", field="file")
    plans = [plan_source(source, options) for source in inputs]
    budget = Budget(options.limits, sum(plan.bytes for plan in plans), progress)
    reports: list[SourceReport] = []
    with CorpusWriter(out_path, dedup=options.dedup, max_bytes=options.max_output_bytes) as writer:
        for plan in plans:
            reports.append(read_source(plan, writer, options, budget, out_path.parent))
        report = CorpusReport(
            documents=writer.documents,
            duplicates=writer.duplicates,
            dropped_duplicates=options.dedup and writer.duplicates > 0,
            characters=writer.characters,
            sources=reports,
        )
        if not writer.documents:
            raise EmptyCorpusError(_empty_message(reports), report)
        report.bytes = writer.commit()
    budget.finish()
    return report


def _empty_message(reports: list[SourceReport]) -> str:
    skipped = [(s.name, k) for s in reports for k in s.skipped]
    count = sum(s.skipped_count for s in reports)
    if not count:
        return "no documents: the input holds no text"
    shown = "; ".join(f"{k.entry}: {k.reason}" for _, k in skipped[:3])
    more = f" and {count - 3} more" if count > 3 else ""
    return f"no documents: every entry was empty or skipped ({shown}{more})"
