"""Corpora in, token files out: the same documents as one plain text file, a JSONL file, a
Parquet file and a .tar.gz of text files, each read into a corpus (build_corpus), described
(inspect_text, as the service does) and prepared with GPT-2's BPE — the whole path a dataset
takes — in alternating rounds, each run a fresh subprocess (its peak RSS is its own).
Then char-level prepare on the plain text, alone.

    .venv/bin/python bench/corpus_ingest.py [--mb 1000] [--rounds 2] [--formats text,jsonl,...]

The documents are real text nobody here wrote: Python's standard library sources and
Debian's licence texts, cut into documents of about --doc-bytes (1 kB: ~1M documents in
1 GB), each ending with its number so none is an exact duplicate. MB/s is the text's size
(the plain file's bytes, the same for every format) over the wall time of all three steps.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script: bench/ is a package of the repo

from bench._machine import cpu_flags, cpu_model, vm_kib  # noqa: E402

MB = 1_000_000
SOURCES = [Path("/usr/lib/python3.11"), Path("/usr/share/common-licenses")]
FORMATS = ("text", "jsonl", "parquet", "tar.gz")
TAR_FILES = 10_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=100, help="text per corpus, MB (1000 = 1 GB)")
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds")
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--doc-bytes", type=int, default=1000)
    parser.add_argument("--scratch", type=Path, help="where the corpora go (default: a temp dir)")
    parser.add_argument("--child", nargs=4, metavar=("STEP", "INPUT", "NAME", "OUT"),
                        help=argparse.SUPPRESS)  # fmt: skip
    args = parser.parse_args()
    if args.child:
        run_child(*args.child)
        return
    formats = args.formats.split(",")
    print(f"{cpu_model()}, {os.cpu_count()} CPUs, flags: {cpu_flags()}")
    print(f"load average {os.getloadavg()[0]:.2f} at start; {args.mb} MB of text per corpus")
    with tempfile.TemporaryDirectory(prefix="corpus-bench-", dir=args.scratch) as scratch:
        root = Path(scratch)
        inputs = make_corpora(root, args.mb * MB, args.doc_bytes, formats)
        text_mb = inputs["text"].stat().st_size / MB
        print(f"documents: {count_documents(inputs['text'], args.doc_bytes):,} (about)")
        columns = ("round", "format", "input MB", "read s", "describe s", "prepare s",
                   "MB/s", "vs text", "peak RSS MB", "documents", "tokens")  # fmt: skip
        print(" | ".join(columns))
        for round_ in range(1, args.rounds + 1):
            order = formats if round_ % 2 else list(reversed(formats))
            rows = {}
            for name in order:
                rows[name] = run_in_subprocess("gpt2", inputs[name], name, root / "out")
            plain = rows.get("text")
            for name in formats:
                row = rows[name]
                total = row["read_s"] + row["describe_s"] + row["prepare_s"]
                speed = text_mb / total
                versus = f"{speed / (text_mb / plain_total(plain)):.2f}" if plain else "—"
                cells = (round_, name, f"{inputs[name].stat().st_size / MB:.0f}",
                         f"{row['read_s']:.1f}", f"{row['describe_s']:.1f}",
                         f"{row['prepare_s']:.1f}", f"{speed:.1f}", versus,
                         f"{row['peak_rss_mb']:.0f}", f"{row['documents']:,}",
                         f"{row['tokens']:,}")  # fmt: skip
                print(" | ".join(str(c) for c in cells), flush=True)
        char = run_in_subprocess("char", inputs["text"], "text", root / "out")
        print(f"char prepare of the plain text: {text_mb / char['prepare_s']:.1f} MB/s "
              f"({char['prepare_s']:.1f} s, peak RSS {char['peak_rss_mb']:.0f} MB)")  # fmt: skip


def plain_total(row: dict[str, float]) -> float:
    return row["read_s"] + row["describe_s"] + row["prepare_s"]


def documents(doc_bytes: int) -> Iterator[str]:
    """Real text cut into documents of about doc_bytes, cycled, each ending with its number."""
    files = sorted(p for root in SOURCES for p in root.rglob("*") if _text_file(p))
    pieces: list[str] = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace").replace("\0", "")
        for start in range(0, len(text), doc_bytes):
            piece = text[start : start + doc_bytes].strip()
            if piece:
                pieces.append(piece)
    number = 0
    while True:
        for piece in pieces:
            number += 1
            yield f"{piece}\n[document {number}]"


def _text_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink() and path.suffix in ("", ".py", ".txt")


def make_corpora(root: Path, size: int, doc_bytes: int, formats: list[str]) -> dict[str, Path]:
    """The same documents in every format; the plain file joins them with a blank line."""
    wanted = [name for name in FORMATS if name in formats or name == "text"]
    paths = {name: root / f"corpus.{name}" for name in wanted}
    paths["text"] = root / "corpus.txt"
    with ExitStack() as stack:
        writers = [stack.enter_context(WRITERS[name](paths[name], size)) for name in wanted]
        written = 0
        for doc in documents(doc_bytes):
            if written >= size:
                break
            written += len(doc.encode("utf-8")) + 2
            for writer in writers:
                writer.add(doc)
    return paths


class PlainWriter:
    def __init__(self, path: Path, size: int) -> None:
        self.file = path.open("w", encoding="utf-8")

    def __enter__(self) -> PlainWriter:
        return self

    def add(self, doc: str) -> None:
        self.file.write(doc + "\n\n")

    def __exit__(self, *exc: object) -> None:
        self.file.close()


class JsonlWriter(PlainWriter):
    def add(self, doc: str) -> None:
        self.file.write(json.dumps({"text": doc, "source": "bench"}) + "\n")


class ParquetWriter:
    """Row groups of 10,000 documents, as a `datasets` export writes them."""

    def __init__(self, path: Path, size: int) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.pa = pa
        schema = pa.schema([("text", pa.string()), ("source", pa.string())])
        self.writer = pq.ParquetWriter(path, schema)
        self.batch: list[str] = []

    def __enter__(self) -> ParquetWriter:
        return self

    def add(self, doc: str) -> None:
        self.batch.append(doc)
        if len(self.batch) >= 10_000:
            self.flush()

    def flush(self) -> None:
        if self.batch:
            table = {"text": self.batch, "source": ["bench"] * len(self.batch)}
            self.writer.write_table(self.pa.table(table))
            self.batch = []

    def __exit__(self, *exc: object) -> None:
        self.flush()
        self.writer.close()


class TarWriter:
    """TAR_FILES text files of documents, gzipped as one stream."""

    def __init__(self, path: Path, size: int) -> None:
        self.tar = tarfile.open(path, "w:gz")  # noqa: SIM115 (closed by __exit__)
        self.per_file = max(size // TAR_FILES, 1)
        self.docs: list[str] = []
        self.bytes = self.members = 0

    def __enter__(self) -> TarWriter:
        return self

    def add(self, doc: str) -> None:
        self.docs.append(doc)
        self.bytes += len(doc) + 2
        if self.bytes >= self.per_file:
            self.flush()

    def flush(self) -> None:
        if not self.docs:
            return
        data = "\n\n".join(self.docs).encode("utf-8")
        info = tarfile.TarInfo(f"docs/{self.members:05}.txt")
        info.size = len(data)
        self.tar.addfile(info, io.BytesIO(data))
        self.members, self.docs, self.bytes = self.members + 1, [], 0

    def __exit__(self, *exc: object) -> None:
        self.flush()
        self.tar.close()


WRITERS = {"text": PlainWriter, "jsonl": JsonlWriter, "parquet": ParquetWriter, "tar.gz": TarWriter}


def count_documents(text_path: Path, doc_bytes: int) -> int:
    return text_path.stat().st_size // (doc_bytes + 20)


def run_in_subprocess(tokenizer: str, input_path: Path, name: str, out: Path) -> dict:
    command = [sys.executable, __file__, "--child", tokenizer, str(input_path), name, str(out)]
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=REPO)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_child(tokenizer: str, input_path: str, name: str, out: str) -> None:
    """Read, describe and prepare one corpus, as the service's ingest and prepare job do."""
    import shutil

    sys.path.insert(0, str(REPO))
    from worker.engine.corpus import SourceInput, build_corpus
    from worker.engine.data.prepare import prepare
    from worker.engine.data.textstats import inspect_text

    out_dir = Path(out)
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    corpus = out_dir / "input.txt"
    start = time.perf_counter()
    report = build_corpus([SourceInput(path=Path(input_path), name=Path(input_path).name)], corpus)
    read_s = time.perf_counter() - start
    describe_s = 0.0
    if tokenizer == "gpt2":
        start = time.perf_counter()
        inspect_text(corpus)
        describe_s = time.perf_counter() - start
    start = time.perf_counter()
    result = prepare(corpus, out_dir / "prepared", tokenizer=tokenizer)
    prepare_s = time.perf_counter() - start
    shutil.rmtree(out_dir, ignore_errors=True)
    print(json.dumps({
        "read_s": read_s, "describe_s": describe_s, "prepare_s": prepare_s,
        "peak_rss_mb": vm_kib("VmHWM") / 1024, "documents": report.documents,
        "tokens": result.train_tokens + result.val_tokens,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
