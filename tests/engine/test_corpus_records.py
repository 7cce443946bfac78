"""The text field of structured files, and records that give no document."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from corpus_helpers import build, documents, leftovers, write

from worker.engine.corpus import ArchiveLimits, FieldChoice, TextFieldError
from worker.engine.errors import DataError


def _jsonl(path: Path, records: list[object]) -> Path:
    return write(path, "".join(json.dumps(r) + "\n" for r in records))


def test_text_then_content_then_the_only_string_field(tmp_path: Path) -> None:
    both = _jsonl(tmp_path / "both.jsonl", [{"content": "no", "text": "yes"}])
    content = _jsonl(tmp_path / "content.jsonl", [{"title": "t", "content": "c"}])
    single = _jsonl(tmp_path / "single.jsonl", [{"id": 1, "body": "b", "tags": ["x"]}])
    corpus, report = build(tmp_path, both, content, single)
    assert documents(corpus) == ["yes", "c", "b"]
    assert [s.text_field for s in report.sources] == ["text", "content", "body"]


def test_several_string_fields_ask_the_user_to_choose(tmp_path: Path) -> None:
    records = [{"title": f"Title {i}", "id": i, "body": "b" * 300 + str(i)} for i in range(5)]
    source = _jsonl(tmp_path / "posts.jsonl", records)
    with pytest.raises(TextFieldError) as caught:
        build(tmp_path, source)
    error = caught.value
    assert error.field == "text_field"
    assert "posts.jsonl has several text fields ('title', 'body')" in error.message
    assert [c.name for c in error.choices] == ["title", "body"]
    assert error.choices[0] == FieldChoice("title", ["Title 0", "Title 1", "Title 2"])
    assert all(len(e) == 201 and e.endswith("…") for e in error.choices[1].examples)
    assert leftovers(tmp_path) == []


def test_a_given_field_is_used_and_must_exist(tmp_path: Path) -> None:
    source = _jsonl(tmp_path / "posts.jsonl", [{"title": "T", "body": "B"}])
    corpus, report = build(tmp_path, source, text_field="title")
    assert corpus == b"T"
    assert report.sources[0].text_field == "title"
    with pytest.raises(TextFieldError, match=r"posts.jsonl has no field 'text'") as caught:
        build(tmp_path, source, text_field="text")
    assert [c.name for c in caught.value.choices] == ["title", "body"]


def test_csv_and_parquet_columns_are_chosen_the_same_way(tmp_path: Path) -> None:
    csv_file = write(tmp_path / "t.csv", "title,body\nA,B\n")
    with pytest.raises(TextFieldError) as caught:
        build(tmp_path, csv_file)
    assert caught.value.choices == [FieldChoice("title", ["A"]), FieldChoice("body", ["B"])]
    parquet = tmp_path / "t.parquet"
    pq.write_table(pa.table({"n": [1], "title": ["A"], "body": ["B"]}), parquet)
    with pytest.raises(TextFieldError) as caught:
        build(tmp_path, parquet)
    assert caught.value.choices == [FieldChoice("title", ["A"]), FieldChoice("body", ["B"])]
    with pytest.raises(TextFieldError, match=r"the field 'n' of t.parquet holds int64"):
        build(tmp_path, parquet, text_field="n")
    corpus, _ = build(tmp_path, parquet, text_field="body")
    assert corpus == b"B"


def test_a_bad_json_line_is_an_error_naming_file_and_line(tmp_path: Path) -> None:
    source = write(
        tmp_path / "data.jsonl", '{"text": "a"}\n{"text": "b"}\n{"text": "c" "d"}\n{"text": "e"}\n'
    )
    with pytest.raises(DataError) as caught:
        build(tmp_path, source)
    assert caught.value.message == (
        "data.jsonl line 3: not JSON: Expecting ',' delimiter (column 14)"
    )
    assert leftovers(tmp_path) == []


BAD_LINES = [
    ('{"text": "ok 1"}', None),
    ("not json", "not JSON: Expecting value (column 1)"),
    ('{"text": 5}', "the field 'text' holds a number, not text"),
    ('{"text": ["a"]}', "the field 'text' holds a list, not text"),
    ('{"other": "x"}', "no field 'text'"),
    ("12", "a number, not an object or a string"),
    ('{"text": "a"} trailing', "not JSON: Extra data (column 15)"),
    ('{"text": null}', "empty document"),
    ('{"text": "  \\n "}', "empty document"),
    ('{"text": "ok 2"}', None),
]


def test_bad_records_can_be_skipped_and_counted(tmp_path: Path) -> None:
    source = write(tmp_path / "d.jsonl", "\n".join(line for line, _ in BAD_LINES) + "\n")
    corpus, report = build(tmp_path, source, on_bad_record="skip")
    assert documents(corpus) == ["ok 1", "ok 2"]
    summary = report.sources[0]
    expected = [(f"d.jsonl line {i}", why) for i, (_, why) in enumerate(BAD_LINES, 1) if why]
    assert [(s.entry, s.reason) for s in summary.skipped] == expected
    assert summary.skipped_count == len(expected)


def test_invalid_utf8_in_a_json_line_is_a_bad_record(tmp_path: Path) -> None:
    source = write(tmp_path / "d.jsonl", b'{"text": "a"}\n{"text": "caf\xe9"}\n{"text": "b"}\n')
    corpus, report = build(tmp_path, source, on_bad_record="skip")
    assert documents(corpus) == ["a", "b"]
    assert report.sources[0].skipped[0].entry == "d.jsonl line 2"
    assert report.sources[0].skipped[0].reason.startswith("not UTF-8 text: invalid byte 0xe9")


def test_a_lone_surrogate_and_nul_become_replacement_characters(tmp_path: Path) -> None:
    source = write(tmp_path / "d.jsonl", '{"text": "a\\ud800b"}\n{"text": "c\\u0000d"}\n')
    corpus, _ = build(tmp_path, source)
    assert documents(corpus) == ["a\ufffdb", "c\ufffdd"]


def test_csv_rows_with_the_wrong_field_count(tmp_path: Path) -> None:
    source = write(tmp_path / "rows.csv", "id,text\n1,good\n2,bad,extra\n3,\n4,fine\n")
    with pytest.raises(DataError, match=r"^rows.csv row 3: 3 fields where the header has 2$"):
        build(tmp_path, source)
    corpus, report = build(tmp_path, source, on_bad_record="skip")
    assert documents(corpus) == ["good", "fine"]
    assert [(s.entry, s.reason) for s in report.sources[0].skipped] == [
        ("rows.csv row 3", "3 fields where the header has 2"),
        ("rows.csv row 4", "empty document"),
    ]


def test_json_array_values_are_records_too(tmp_path: Path) -> None:
    source = write(tmp_path / "a.json", '[{"text": "x"}, {"text": 1}, 7, "y"]')
    with pytest.raises(DataError, match=r"^a.json item 2: the field 'text' holds a number"):
        build(tmp_path, source)
    corpus, report = build(tmp_path, source, on_bad_record="skip")
    assert documents(corpus) == ["x", "y"]
    assert report.sources[0].skipped_count == 2


def test_only_the_first_hundred_skips_are_listed(tmp_path: Path) -> None:
    source = write(tmp_path / "d.jsonl", '{"text": "keep"}\n' + "oops\n" * 150)
    _, report = build(tmp_path, source, on_bad_record="skip")
    assert report.sources[0].skipped_count == 150
    assert len(report.sources[0].skipped) == 100
    assert report.sources[0].skipped[-1].entry == "d.jsonl line 101"


def test_records_longer_than_the_record_limit(tmp_path: Path) -> None:
    # a bound on memory: checked as a record is read past one read block
    limits = ArchiveLimits(max_record_bytes=1000)
    long_text = "z" * (2 << 20)
    jsonl = _jsonl(tmp_path / "long.jsonl", [{"text": "short"}, {"text": long_text}])
    with pytest.raises(DataError, match=r"^long.jsonl line 2 is longer than 1000 bytes"):
        build(tmp_path, jsonl, limits=limits)
    array = write(tmp_path / "long.json", json.dumps([{"text": long_text}]))
    with pytest.raises(DataError, match=r"^long.json item 1 \(line 1\) is longer than 1000"):
        build(tmp_path, array, limits=limits)
    table = write(tmp_path / "long.csv", f"text\n{long_text}\n")
    with pytest.raises(DataError, match=r"^long.csv row 2: not valid CSV: field larger"):
        build(tmp_path, table, limits=limits)
    assert leftovers(tmp_path) == []
