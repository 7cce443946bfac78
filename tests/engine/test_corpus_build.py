"""build_corpus end to end: the corpus file's layout, folders, duplicates, limits, failures."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest
from corpus_helpers import build, documents, leftovers, write

from worker.engine.corpus import (
    ArchiveLimits,
    CorpusOptions,
    EmptyCorpusError,
    OutputLimitReached,
    SourceInput,
    build_corpus,
)
from worker.engine.errors import ConfigError, DataError


def test_documents_are_followed_by_nul_unless_there_is_one(tmp_path: Path) -> None:
    a = write(tmp_path / "a.txt", "first")
    b = write(tmp_path / "b.txt", "second\n")
    corpus, report = build(tmp_path, a, b)
    assert corpus == b"first\0second\n\0"
    assert (report.documents, report.characters, report.bytes) == (2, 12, len(corpus))
    corpus, _ = build(tmp_path, a)
    assert corpus == b"first"


def test_empty_and_blank_documents_are_skipped(tmp_path: Path) -> None:
    empty = write(tmp_path / "empty.txt", "")
    blank = write(tmp_path / "blank.txt", " \n\t\r\n")
    kept = write(tmp_path / "kept.txt", "text")
    corpus, report = build(tmp_path, empty, blank, kept)
    assert corpus == b"text"  # one document left: written bare
    assert [(s.documents, [k.reason for k in s.skipped]) for s in report.sources] == [
        (0, ["empty document"]),
        (0, ["empty document"]),
        (1, []),
    ]


def test_no_document_at_all_is_an_error_and_leaves_nothing(tmp_path: Path) -> None:
    blank = write(tmp_path / "blank.txt", "   ")
    with pytest.raises(EmptyCorpusError, match=r"no documents: .*blank.txt: empty document") as e:
        build(tmp_path, blank)
    assert e.value.report.sources[0].skipped_count == 1
    assert leftovers(tmp_path) == []


def test_duplicates_are_counted_or_dropped(tmp_path: Path) -> None:
    text = write(tmp_path / "a.txt", "same")
    records = write(
        tmp_path / "b.jsonl", '{"text": "same"}\n{"text": "other"}\n{"text": "other"}\n'
    )
    corpus, report = build(tmp_path, text, records)
    assert documents(corpus) == ["same", "same", "other", "other"]
    assert (report.documents, report.duplicates, report.dropped_duplicates) == (4, 2, False)
    corpus, report = build(tmp_path, text, records, dedup=True)
    assert documents(corpus) == ["same", "other"]
    assert (report.documents, report.duplicates, report.dropped_duplicates) == (2, 2, True)
    assert [(s.documents, s.duplicates) for s in report.sources] == [(1, 0), (1, 2)]
    # a dropped repeat of a streamed document is truncated away, separator and all
    corpus, report = build(tmp_path, text, text, dedup=True)
    assert corpus == b"same"


def test_a_bad_byte_deep_in_a_folder_file_leaves_nothing_of_it(tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    good = "good line\n" * 10
    write(folder / "1.txt", good)
    # past the first 1 MiB block, so part of it was written before the bad byte was seen
    write(folder / "2.txt", b"x" * (1 << 20) + b"\nline two\n\xff")
    write(folder / "3.txt", b"y" * (2 << 20) + b"\0")
    write(folder / "4.txt", "after")
    corpus, report = build(tmp_path, folder)
    assert documents(corpus) == [good, "after"]
    assert [(s.entry, s.reason) for s in report.sources[0].skipped] == [
        ("2.txt", "not UTF-8 text: invalid byte 0xff at byte offset 1048586 (line 3)"),
        ("3.txt", "binary: a NUL byte at byte offset 2097152 (line 1)"),
    ]


def test_a_bad_byte_in_a_source_file_is_an_error_naming_where(tmp_path: Path) -> None:
    source = write(tmp_path / "notes.txt", b"\xef\xbb\xbf" + b"a\n" * 600_000 + b"caf\xe9\n")
    with pytest.raises(DataError) as caught:
        build(tmp_path, source)
    assert caught.value.message == (
        "not UTF-8 text: invalid byte 0xe9 at byte offset 1200006 (line 600001) of notes.txt; "
        "save the file with UTF-8 encoding and try again"
    )
    assert leftovers(tmp_path) == []
    # the first block (64 KiB) ends inside a 3-byte character whose next byte is wrong
    cut = write(tmp_path / "cut.txt", b"a" * 65535 + b"\xe2A and more")
    with pytest.raises(DataError, match=r"^not UTF-8 text: invalid byte 0xe2 at byte offset 65535"):
        build(tmp_path, cut)
    unfinished = write(tmp_path / "end.txt", b"a" * 70_000 + "€".encode()[:-1])
    with pytest.raises(DataError, match=r"offset 70000 \(line 1\) \(the file ends inside a char"):
        build(tmp_path, unfinished)
    image = write(tmp_path / "cat.jpg", b"\xff\xd8\xff\xe0" + bytes(100))
    with pytest.raises(DataError, match=r"^cat.jpg is not a text file: it is a JPEG image"):
        build(tmp_path, image)


def test_a_folder_is_read_in_sorted_order_and_hostile_entries_are_skipped(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "docs"
    write(folder / "b.txt", "b")
    write(folder / "a" / "z.txt", "a/z")
    write(folder / "a.txt", "a.txt")
    write(folder / ".git" / "config", "hidden")
    write(folder / ".env", "SECRET=1")
    outside = write(tmp_path / "outside.txt", "outside")
    (folder / "escape.txt").symlink_to(outside)
    (folder / "inside.txt").symlink_to(folder / "b.txt")
    (folder / "loop").symlink_to(folder)
    os.mkfifo(folder / "pipe")
    with zipfile.ZipFile(folder / "c.zip", "w") as archive:
        archive.writestr("inner/m.txt", "zipped")
        archive.writestr("inner/nested.zip", b"PK\x05\x06" + bytes(18))
    corpus, report = build(tmp_path, folder)
    assert documents(corpus) == ["a/z", "a.txt", "b", "zipped", "b"]
    summary = report.sources[0]
    assert summary.format == "directory"
    assert summary.members == {"text": 5, "zip": 1}
    assert sorted((s.entry, s.reason) for s in summary.skipped) == [
        (".env", "hidden file"),
        (".git", "hidden folder"),
        ("c.zip/inner/nested.zip", "nested archive (not expanded)"),
        ("escape.txt", "symlink leaving the directory"),
        ("loop", "symlink to a folder (its files are read where they are)"),
        ("pipe", "not a regular file (a FIFO, socket or device)"),
    ]
    sizes = [p.stat().st_size for p in (folder / "a" / "z.txt", folder / "a.txt", folder / "b.txt")]
    assert summary.bytes == sum(sizes) + (folder / "c.zip").stat().st_size + 1  # inside.txt


def test_a_folder_with_too_many_files(tmp_path: Path) -> None:
    folder = tmp_path / "many"
    for i in range(3):
        write(folder / f"{i}.txt", str(i))
    with pytest.raises(
        DataError, match=r"^many holds more than 2 files \(the limit for one folder"
    ):
        build(tmp_path, folder, limits=ArchiveLimits(max_members=2))


def test_members_of_an_archive_in_a_folder_name_their_archive(tmp_path: Path) -> None:
    folder = tmp_path / "shards"
    write(folder / "a.jsonl", '{"text": "from a"}\n')
    with zipfile.ZipFile(folder / "b.zip", "w") as archive:
        archive.writestr("x.jsonl", '{"text": "from b"}\nnot json\n')
    with pytest.raises(DataError, match=r"^shards: b.zip/x.jsonl line 2: not JSON"):
        build(tmp_path, folder)


def test_output_limit(tmp_path: Path) -> None:
    a = write(tmp_path / "a.txt", "12345")
    b = write(tmp_path / "b.txt", "6789")
    corpus, _ = build(tmp_path, a, b, max_output_bytes=11)  # 5 + NUL + 4 + NUL
    assert corpus == b"12345\x006789\x00"
    with pytest.raises(OutputLimitReached):
        build(tmp_path, a, b, max_output_bytes=10)
    assert leftovers(tmp_path) == ["corpus.txt"]  # the earlier corpus, untouched
    (tmp_path / "out" / "corpus.txt").unlink()
    big = write(tmp_path / "big.txt", "z" * (3 << 20))
    with pytest.raises(OutputLimitReached):
        build(tmp_path, big, max_output_bytes=2 << 20)
    assert leftovers(tmp_path) == []


def test_an_error_in_a_later_source_leaves_nothing(tmp_path: Path) -> None:
    good = write(tmp_path / "good.txt", "fine " * 100_000)
    bad = write(tmp_path / "bad.jsonl", '{"text": "x"}\n{oops\n')
    with pytest.raises(DataError, match=r"^bad.jsonl line 2: not JSON"):
        build(tmp_path, good, bad)
    assert leftovers(tmp_path) == []


def test_a_new_corpus_replaces_the_old_one(tmp_path: Path) -> None:
    write(tmp_path / "out" / "corpus.txt", "old corpus")
    corpus, _ = build(tmp_path, write(tmp_path / "new.txt", "new"))
    assert corpus == b"new"
    assert leftovers(tmp_path) == ["corpus.txt"]


def test_progress_and_report(tmp_path: Path) -> None:
    one = write(tmp_path / "one.txt", "x" * (9 << 20))
    two = write(tmp_path / "two.jsonl", '{"text": "y"}\n' * 1000)
    total = one.stat().st_size + two.stat().st_size
    calls: list[tuple[int, int]] = []
    out = tmp_path / "corpus"
    report = build_corpus(
        [SourceInput(one, "uploads/one.txt"), SourceInput(two, "two.jsonl")],
        out,
        CorpusOptions(),
        progress=lambda done, of: calls.append((done, of)),
    )
    assert calls[-1] == (total, total)
    assert len(calls) >= 3
    assert all(of == total for _, of in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["documents"] == 1001
    assert [s["name"] for s in data["sources"]] == ["uploads/one.txt", "two.jsonl"]
    assert data["sources"][1]["text_field"] == "text"


def test_bad_arguments(tmp_path: Path) -> None:
    source = write(tmp_path / "a.txt", "a")
    with pytest.raises(ConfigError, match="does not exist"):
        build_corpus([SourceInput(source, "a.txt")], tmp_path / "missing" / "corpus")
    with pytest.raises(DataError, match=r"cannot read nothing\.txt"):
        build_corpus([SourceInput(tmp_path / "nothing.txt", "nothing.txt")], tmp_path / "c")
    with pytest.raises(DataError, match="no input"):
        build_corpus([], tmp_path / "c")
