"""A dataset is a corpus: several files in one upload, archives, JSONL/CSV/Parquet with a text
field, documents kept apart, and bad input refused with nothing stored. Through the API, on
SQLite with no workers (a corpus past the inline limit is read by calling the job here)."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from studio_stack import assert_error

from app.store.settings import get_settings

EOT = "<|endoftext|>"


def leftovers() -> list[Path]:
    return list((get_settings().data_dir / "uploads").glob("*"))


def corpus_text(dataset_id: int) -> str:
    return (get_settings().dataset_dir(dataset_id) / "input.txt").read_text(encoding="utf-8")


def jsonl(*records: object) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_several_files_make_one_corpus_of_documents(client):
    files = [
        ("file", ("notes/a.txt", b"First file.\n", "text/plain")),
        ("file", ("notes/b.md", "Second, with \u00e9.\n".encode(), "text/markdown")),
        ("file", ("notes/c.jsonl", jsonl({"text": "third"}, {"text": "fourth"}), "text/plain")),
    ]
    response = client.post("/api/v1/datasets", files=files)
    assert response.status_code == 201, response.text
    dataset = response.json()
    assert dataset["state"] == "ready" and dataset["name"] == "notes"
    assert dataset["documents"] == 4 and dataset["duplicates"] == 0
    formats = {s["name"]: (s["format"], s["documents"]) for s in dataset["sources"]}
    assert formats == {
        "notes/a.txt": ("text", 1),
        "notes/b.md": ("text", 1),
        "notes/c.jsonl": ("jsonl", 2),
    }
    # the preview is the documents' text, never the JSON around it
    assert dataset["preview_documents"][2:] == ["third", "fourth"]
    assert EOT in dataset["preview"] and '{"text"' not in dataset["preview"]
    assert corpus_text(dataset["id"]) == "First file.\n\0Second, with \u00e9.\n\0third\0fourth\0"
    assert sum(b["count"] for b in dataset["doc_lengths"]) == 4
    assert dataset["options"] == {"text_field": None, "dedup": False, "on_bad_record": "error"}
    assert leftovers() == []


def test_archives_are_read_member_by_member(client):
    archive = tar_gz({"a.txt": b"alpha\n", "sub/b.txt": b"beta\n", "../evil.txt": b"no\n"})
    files = {"file": ("corpus.tar.gz", archive, "application/gzip")}
    dataset = client.post("/api/v1/datasets", files=files).json()
    [source] = dataset["sources"]
    assert source["format"] == "tar.gz" and source["documents"] == 2
    assert [s["entry"] for s in source["skipped"]] == ["../evil.txt"]
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive_file:
        archive_file.writestr("x.txt", "one\n")
        archive_file.writestr("y.txt", "two\n")
    dataset = client.post("/api/v1/datasets?name=z.zip", content=zipped.getvalue()).json()
    assert dataset["documents"] == 2 and dataset["sources"][0]["format"] == "zip"


def test_a_text_field_to_choose_is_asked_for_with_examples(client):
    records = jsonl(*({"question": f"q{i}?", "answer": f"a{i}."} for i in range(5)))
    files = {"file": ("qa.jsonl", records, "application/json")}
    response = client.post("/api/v1/datasets", files=files)
    assert_error(response, 422, "text_field", "text_field")
    choices = response.json()["error"]["choices"]
    assert [c["value"] for c in choices] == ["question", "answer"]
    assert choices[1]["examples"][:2] == ["a0.", "a1."]
    chosen = client.post("/api/v1/datasets", files=files, data={"text_field": "answer"})
    assert chosen.status_code == 201, chosen.text
    assert chosen.json()["preview_documents"][:2] == ["a0.", "a1."]
    assert chosen.json()["sources"][0]["text_field"] == "answer"
    assert leftovers() == []


def test_bad_records_are_named_or_skipped_and_counted(client):
    body = b'{"text": "fine"}\n{"text": broken\n{"text": "also fine"}\n'
    response = client.post("/api/v1/datasets?name=d.jsonl", content=body)
    assert_error(response, 422, "data")
    assert "d.jsonl" in response.json()["error"]["message"]
    assert "line 2" in response.json()["error"]["message"]
    skipped = client.post("/api/v1/datasets?name=d.jsonl&on_bad_record=skip", content=body)
    assert skipped.status_code == 201, skipped.text
    [source] = skipped.json()["sources"]
    assert source["documents"] == 2 and source["skipped_count"] == 1
    assert "line 2" in source["skipped"][0]["entry"]
    missing = client.post(
        "/api/v1/datasets?name=rows.csv&text_field=body", content=b"title,text\nA,hello\n"
    )
    assert_error(missing, 422, field="text_field")
    assert "title" in missing.json()["error"]["message"]
    assert "text" in missing.json()["error"]["message"]
    wrong = client.post("/api/v1/datasets?name=a.txt&on_bad_record=maybe", content=b"x")
    assert_error(wrong, 422, field="on_bad_record")
    assert leftovers() == []


def test_parquet_and_duplicates(client, tmp_path):
    table = pa.table({"id": [1, 2, 3, 4], "content": ["same", "other", "same", "last"]})
    pq.write_table(table, tmp_path / "t.parquet")
    data = (tmp_path / "t.parquet").read_bytes()
    counted = client.post("/api/v1/datasets?name=t.parquet", content=data).json()
    assert counted["documents"] == 4 and counted["duplicates"] == 1
    assert counted["sources"][0]["format"] == "parquet"
    dropped = client.post("/api/v1/datasets?name=t.parquet&dedup=true", content=data).json()
    assert dropped["documents"] == 3 and dropped["duplicates"] == 1
    assert dropped["options"]["dedup"] is True
    assert corpus_text(dropped["id"]) == "same\0other\0last\0"


def test_an_archive_bomb_is_refused_and_nothing_is_stored(client, monkeypatch):
    monkeypatch.setattr(client.app.state.settings, "archive_max_member_bytes", 1 << 20)
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.txt", b"0" * (4 << 20))
    before = client.get("/api/v1/datasets").json()["total"]
    response = client.post("/api/v1/datasets?name=bomb.zip", content=bomb.getvalue())
    assert_error(response, 422, "data")
    assert client.get("/api/v1/datasets").json()["total"] == before
    assert leftovers() == []


def test_a_binary_file_is_415_and_an_empty_corpus_422(client):
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    assert_error(client.post("/api/v1/datasets?name=a.png", content=png), 415)
    empty = tar_gz({"blank.txt": b"   \n"})
    assert_error(client.post("/api/v1/datasets?name=e.tar.gz", content=empty), 422)
    assert leftovers() == []


def test_a_large_corpus_is_read_by_the_inspect_job(client):
    from worker.jobs.tasks.inspect import inspect_dataset

    line = "the quick brown fox jumps over the lazy dog\n"
    members = {f"doc{i:03}.txt": (line * 60).encode() for i in range(100)}  # ~260 kB of text
    files = {"file": ("big.tar.gz", tar_gz(members), "application/gzip")}
    response = client.post("/api/v1/datasets", files=files)
    assert response.status_code == 201, response.text
    dataset = response.json()
    assert dataset["state"] == "inspecting" and dataset["documents"] is None
    folder = get_settings().dataset_dir(dataset["id"])
    assert (folder / "sources" / "0").is_file() and not (folder / "input.txt").exists()
    assert leftovers() == []

    assert inspect_dataset(dataset["id"]) == "done"  # what a worker would run
    ready = client.get(f"/api/v1/datasets/{dataset['id']}").json()
    assert ready["state"] == "ready" and ready["documents"] == 100
    assert ready["duplicates"] == 99 and ready["sources"][0]["documents"] == 100
    assert ready["characters"] == 100 * 60 * len(line)
    assert not (folder / "sources").exists() and (folder / "input.txt").is_file()
