"""Building corpora from real files in a test's tmp_path, and reading them back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from worker.engine.corpus import CorpusOptions, CorpusReport, SourceInput, build_corpus


def build(tmp: Path, *paths: Path, **options: Any) -> tuple[bytes, CorpusReport]:
    """build_corpus over files/folders (named by their file names); the corpus bytes and
    the report."""
    out = tmp / "out" / "corpus.txt"
    out.parent.mkdir(exist_ok=True)
    inputs = [SourceInput(path=p, name=p.name) for p in paths]
    report = build_corpus(inputs, out, CorpusOptions(**options))
    return out.read_bytes(), report


def documents(corpus: bytes) -> list[str]:
    """The documents of a normalized corpus (one bare document, or each NUL-terminated)."""
    if b"\0" not in corpus:
        return [corpus.decode("utf-8")]
    assert corpus.endswith(b"\0")
    return corpus[:-1].decode("utf-8").split("\0")


def leftovers(tmp: Path) -> list[str]:
    """Whatever a failed build left in the output folder (nothing, if it cleaned up)."""
    folder = tmp / "out"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path
