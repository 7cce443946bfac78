"""Every plain format build_corpus reads, detected by content with the extension as a hint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc
import pyarrow.parquet as pq
import pytest
from corpus_helpers import build, documents, write

from worker.engine.corpus import detect_format
from worker.engine.errors import DataError

BOM = "\ufeff"


def test_a_single_text_file_is_copied_byte_for_byte(tmp_path: Path) -> None:
    text = "First line\r\nsecond line — ünïcødé\n\n  trailing spaces  \n"
    source = write(tmp_path / "notes.txt", text)
    corpus, report = build(tmp_path, source)
    assert corpus == source.read_bytes()
    assert report.documents == 1
    assert report.characters == len(text)
    assert report.sources[0].format == "text"
    assert report.sources[0].members == {}


def test_characters_cut_by_read_blocks_are_kept_whole(tmp_path: Path) -> None:
    # 3-byte characters: the 64 KiB head and the 1 MiB blocks both end inside one
    text = "€uro " * 150_000 + "✓"
    source = write(tmp_path / "euro.txt", text)
    other = write(tmp_path / "other.txt", "other")
    corpus, report = build(tmp_path, source, other)
    assert corpus == source.read_bytes() + b"\0other\0"
    assert report.characters == len(text) + len("other")


def test_a_bom_is_dropped(tmp_path: Path) -> None:
    source = write(tmp_path / "bom.md", BOM + "# Title\n")
    corpus, _ = build(tmp_path, source)
    assert corpus == b"# Title\n"


@pytest.mark.parametrize("name", ["data.jsonl", "data.ndjson", "data.json", "data"])
def test_json_lines(tmp_path: Path, name: str) -> None:
    lines = [
        json.dumps({"id": 1, "text": "one"}),
        "",
        json.dumps({"id": 2, "text": "two\nlines"}),
        "   ",
        json.dumps("a bare string"),
    ]
    source = write(tmp_path / name, "\n".join(lines) + "\n")
    corpus, report = build(tmp_path, source)
    assert documents(corpus) == ["one", "two\nlines", "a bare string"]
    assert report.sources[0].format == "jsonl"
    assert report.sources[0].text_field == "text"


def test_json_lines_without_a_final_newline_and_with_crlf(tmp_path: Path) -> None:
    source = write(tmp_path / "d.jsonl", '\ufeff{"text": "a"}\r\n{"text": "b"}')
    corpus, _ = build(tmp_path, source)
    assert documents(corpus) == ["a", "b"]


def test_json_array_of_objects_and_of_strings(tmp_path: Path) -> None:
    objects = write(
        tmp_path / "objects.json",
        json.dumps([{"content": "alpha"}, {"content": "beta"}], indent=2),
    )
    strings = write(tmp_path / "strings.json", ' [ "gamma" ,\n "delta"]\n')
    empty = write(tmp_path / "empty.json", "[]")
    corpus, report = build(tmp_path, objects, strings, empty)
    assert documents(corpus) == ["alpha", "beta", "gamma", "delta"]
    assert [s.format for s in report.sources] == ["json", "json", "json"]
    assert [s.documents for s in report.sources] == [2, 2, 0]
    assert report.sources[0].text_field == "content"
    assert report.sources[1].text_field is None


def test_a_json_array_streams_items_longer_than_a_read_block(tmp_path: Path) -> None:
    # 1 MiB blocks: these items are cut by block ends, some inside a string, some in a number
    big = "x" * 1_500_000
    items = [{"text": big, "n": 12345}, {"text": "small"}, {"text": big + "y"}]
    source = write(tmp_path / "big.json", json.dumps(items))
    corpus, report = build(tmp_path, source)
    assert documents(corpus) == [big, "small", big + "y"]
    assert report.sources[0].documents == 3


def test_a_json_object_is_not_a_dataset(tmp_path: Path) -> None:
    source = write(tmp_path / "config.json", '{\n  "name": "x",\n  "text": "y"\n}\n')
    with pytest.raises(DataError, match=r"config.json holds one JSON object; expected an array"):
        build(tmp_path, source)


def test_a_json_syntax_error_names_the_item_and_line(tmp_path: Path) -> None:
    source = write(tmp_path / "bad.json", '[\n{"text": "a"},\n{"text": "b" "c"}\n]')
    with pytest.raises(DataError, match=r"bad.json item 2 \(line 3\): not JSON: Expecting ','"):
        build(tmp_path, source)


def test_csv_and_tsv(tmp_path: Path) -> None:
    csv_file = write(
        tmp_path / "rows.csv",
        'id,text,lang\n1,"Hello, world",en\n2,"Two\nlines",en\n\n3,"Quote ""this""",en\n',
    )
    tsv_file = write(tmp_path / "rows.tsv", "id\tbody\n1\tfirst\n2\tsecond\n")
    tab_file = write(tmp_path / "rows.tab", "text\nonly column\n")
    corpus, report = build(tmp_path, csv_file, tsv_file, tab_file)
    assert documents(corpus) == [
        "Hello, world",
        "Two\nlines",
        'Quote "this"',
        "first",
        "second",
        "only column",
    ]
    assert [s.format for s in report.sources] == ["csv", "tsv", "tsv"]
    # "id" holds numbers only, so "body" is the one text column
    assert [s.text_field for s in report.sources] == ["text", "body", "text"]


def test_a_long_csv_field_fits(tmp_path: Path) -> None:
    long_text = "word " * 100_000  # 500 KB, past the csv module's default field limit
    source = write(tmp_path / "long.csv", f'text\n"{long_text}"\n')
    corpus, _ = build(tmp_path, source)
    assert corpus == long_text.encode()


def _table() -> pa.Table:
    return pa.table(
        {
            "id": pa.array([1, 2, 3, 4]),
            "text": pa.array(["first", None, "third\0with nul", "  "]),
        }
    )


def test_parquet_in_batches(tmp_path: Path) -> None:
    source = tmp_path / "data.parquet"
    pq.write_table(_table(), source, row_group_size=2)
    corpus, report = build(tmp_path, source)
    assert documents(corpus) == ["first", "third\ufffdwith nul"]
    summary = report.sources[0]
    assert (summary.format, summary.text_field, summary.documents) == ("parquet", "text", 2)
    assert [(s.entry, s.reason) for s in summary.skipped] == [
        ("data.parquet row 2", "empty document"),
        ("data.parquet row 4", "empty document"),
    ]


def test_arrow_file_and_stream_formats(tmp_path: Path) -> None:
    table = pa.table({"body": pa.array(["a", "b"], pa.large_string()), "n": [1, 2]})
    file_format = tmp_path / "data.feather"
    with pa.OSFile(str(file_format), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
        w.write_table(table)
    stream_format = tmp_path / "data.arrow"
    with pa.OSFile(str(stream_format), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table, max_chunksize=1)
    corpus, report = build(tmp_path, file_format, stream_format)
    assert documents(corpus) == ["a", "b", "a", "b"]
    assert [s.format for s in report.sources] == ["arrow", "arrow"]
    assert [s.text_field for s in report.sources] == ["body", "body"]


def _save_to_disk_folder(folder: Path, texts: list[list[str]]) -> None:
    """What `datasets.Dataset.save_to_disk` writes: Arrow stream shards and two JSONs."""
    folder.mkdir()
    for i, shard in enumerate(texts):
        table = pa.table({"text": shard, "label": list(range(len(shard)))})
        path = folder / f"data-{i:05d}-of-{len(texts):05d}.arrow"
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as w:
            w.write_table(table)
    write(folder / "dataset_info.json", json.dumps({"features": {"text": {"dtype": "string"}}}))
    write(folder / "state.json", json.dumps({"_data_files": [{"filename": "x"}]}))


def test_a_hugging_face_save_to_disk_folder(tmp_path: Path) -> None:
    folder = tmp_path / "hf_dataset"
    _save_to_disk_folder(folder, [["one", "two"], ["three"]])
    corpus, report = build(tmp_path, folder)
    assert documents(corpus) == ["one", "two", "three"]
    summary = report.sources[0]
    assert summary.format == "directory"
    assert summary.members == {"arrow": 2}
    assert sorted((s.entry, s.reason) for s in summary.skipped) == [
        ("dataset_info.json", "Hugging Face datasets metadata"),
        ("state.json", "Hugging Face datasets metadata"),
    ]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("a.txt", b'{"text": "x"}\n{"text": "y"}\n', "text"),  # a text extension wins
        ("a.log", b'{"level": "info"}\n{"level": "warn"}\n', "text"),
        ("noext", b'{"text": "x"}\n{"text": "y"}\n', "jsonl"),
        ("noext", b'[{"text": "x"}]', "json"),
        ("noext", b"[link](http://x) in markdown", "text"),
        ("a.json", b'{"text": "x"}\n{"text": "y"}\n', "jsonl"),
        ("a.json", b'{\n "text": "x"\n}\n', "json"),
        ("a.json", b'{"text": "minified, one line"}', "json"),
        ("noext", b'{"text": "one record"}', "json"),
        ("a.csv", b"a,b\n1,2\n", "csv"),
        ("a.tab", b"a\tb\n", "tsv"),
        ("x.bin", b"\x89PNG\r\n\x1a\n\0\0\0", "binary"),
        ("x.txt", b"caf\xe9", "binary"),
        ("x.txt", b"a\0b", "binary"),
        ("x.docx", b"PK\x03\x04rest", "binary"),
        ("x.zip", b"PK\x05\x06" + b"\0" * 18, "zip"),
        ("x.parquet", b"PAR1\x15\x04\x15\x00", "parquet"),
        ("par.txt", b"PAR1 is a plain word here", "text"),
        ("x.arrow", b"\xff\xff\xff\xff\x10\x00\x00\x00", "arrow"),
        ("x", b"ARROW1\0\0", "arrow"),
    ],
)
def test_detect_format(tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    path = write(tmp_path / name, content)
    assert detect_format(path, name) == expected


def test_detect_format_looks_inside_compressed_streams(tmp_path: Path) -> None:
    import gzip
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("a.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"a"))
    write(tmp_path / "x.tgz", gzip.compress(buffer.getvalue()))
    write(tmp_path / "y.gz", gzip.compress(b"plain text"))
    assert detect_format(tmp_path / "x.tgz", "x.tgz") == "tar.gz"
    assert detect_format(tmp_path / "y.gz", "y.gz") == "gz"
    assert detect_format(tmp_path, "folder") == "directory"


def test_the_package_loads_pyarrow_only_to_read_a_table() -> None:
    # the API process imports detect_format; pyarrow (and numpy) would add ~60 MB to it
    code = (
        "import sys, worker.engine.corpus\n"
        "assert 'pyarrow' not in sys.modules and 'numpy' not in sys.modules, 'loaded'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
