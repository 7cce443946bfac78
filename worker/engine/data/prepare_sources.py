"""Paths to token files in one call (what `nanogpt-studio prepare a.jsonl docs/ b.tar.gz` does):
the corpus builder reads every file, folder and archive into one corpus file, in a scratch
folder beside the output, and prepare tokenizes it. The scratch folder goes either way; on a
failure nothing is left (prepare stages its own output)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from worker.engine.corpus import CorpusOptions, CorpusReport, SourceInput, build_corpus
from worker.engine.data.prepare import PrepareResult, prepare
from worker.engine.data.textstats import Progress

CORPUS_FILE = "corpus.txt"


def prepare_sources(
    paths: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    options: CorpusOptions | None = None,
    progress: Progress | None = None,
    **prepare_options: Any,
) -> tuple[CorpusReport, PrepareResult]:
    """Reads `paths` (files, folders, archives; any format the corpus builder reads) and
    prepares them into out_dir. `prepare_options` are prepare()'s (tokenizer, vocab_size,
    val_fraction, bpe_train_chars). progress(done, total) spans both steps: reading counts for
    the first fifth (a sixth of the work or less, measured), tokenizing for the rest."""
    out = Path(out_dir)
    created = _missing_ancestor(out.parent)
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}.corpus-", dir=out.parent))
    try:
        inputs = [SourceInput(path=Path(p), name=str(p)) for p in paths]
        whole = max(sum(_size(Path(p)) for p in paths), 1)
        reading, tokenizing = _part(progress, whole, 0.0, 0.2), _part(progress, whole, 0.2, 0.8)
        report = build_corpus(inputs, scratch / CORPUS_FILE, options or CorpusOptions(), reading)
        result = prepare(scratch / CORPUS_FILE, out, progress=tokenizing, **prepare_options)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise
    shutil.rmtree(scratch, ignore_errors=True)
    return report, result


def _part(progress: Progress | None, whole: int, start: float, width: float) -> Progress | None:
    """A progress callback for one step, mapped onto start..start + width of `whole` (the
    inputs' bytes, so a progress bar's MB/s reads as input bytes a second)."""
    if progress is None:
        return None

    def report(done: int, total: int) -> None:
        fraction = done / total if total else 1.0
        progress(round(whole * (start + width * fraction)), whole)

    return report


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size if path.is_file() else 0


def _missing_ancestor(folder: Path) -> Path | None:
    """The outermost folder of `folder` that does not exist yet (what mkdir would create)."""
    missing = None
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            break
        missing = candidate
    return missing
