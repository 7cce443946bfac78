"""Server-side import (POST /datasets/import): only under STUDIO_IMPORT_DIRS, judged after
links and '..' are resolved; read as an upload is, the files never changed."""

from __future__ import annotations

import json
import os

import pytest
from studio_stack import assert_error


@pytest.fixture
def corpora(client, monkeypatch, tmp_path):
    """An import directory holding a folder of documents, and a secret next to it."""
    root = tmp_path / "corpora"
    (root / "wiki" / "sub").mkdir(parents=True)
    (root / "wiki" / "a.txt").write_text("Alpha article.\n")
    (root / "wiki" / "sub" / "b.jsonl").write_text(
        "".join(json.dumps({"text": f"record {i}"}) + "\n" for i in range(3))
    )
    (root / "wiki" / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    (tmp_path / "secret.txt").write_text("not yours\n")
    monkeypatch.setattr(client.app.state.settings, "import_dirs", str(root))
    return root


def test_import_is_off_until_the_operator_names_directories(client, monkeypatch):
    monkeypatch.setattr(client.app.state.settings, "import_dirs", "")
    response = client.post("/api/v1/datasets/import", json={"path": "/etc"})
    assert_error(response, 403, "import_disabled", "path")
    assert "STUDIO_IMPORT_DIRS" in response.json()["error"]["message"]


def test_a_directory_is_imported_as_documents(client, corpora):
    response = client.post("/api/v1/datasets/import", json={"path": str(corpora / "wiki")})
    assert response.status_code == 201, response.text
    dataset = response.json()
    assert dataset["name"] == "wiki" and dataset["state"] == "ready"
    assert dataset["documents"] == 4
    [source] = dataset["sources"]
    assert source["format"] == "directory" and source["members"] == {"text": 1, "jsonl": 1}
    assert [s["entry"] for s in source["skipped"]] == ["logo.png"]
    assert dataset["bytes"] == source["bytes"] > 0
    assert (corpora / "wiki" / "a.txt").read_text() == "Alpha article.\n"  # untouched
    relative = client.post("/api/v1/datasets/import", json={"path": "wiki/a.txt"})
    assert relative.status_code == 201 and relative.json()["documents"] == 1


def test_paths_outside_the_import_directories_are_refused(client, corpora, tmp_path):
    outside = [
        str(tmp_path / "secret.txt"),
        str(corpora / ".." / "secret.txt"),
        "../secret.txt",
        "/etc/passwd",
        "~nobody-here/../../secret.txt",  # no home directory is looked up
    ]
    os.symlink(tmp_path / "secret.txt", corpora / "link.txt")
    outside.append(str(corpora / "link.txt"))
    for path in outside:
        response = client.post("/api/v1/datasets/import", json={"path": path})
        assert_error(response, 403, "outside_import_dirs", "path")
    missing = client.post("/api/v1/datasets/import", json={"path": str(corpora / "nope")})
    assert_error(missing, 422, "no_such_path", "path")


def test_a_bad_record_names_the_path(client, corpora):
    (corpora / "bad.jsonl").write_text('{"text": "ok"}\nnot json\n')
    response = client.post("/api/v1/datasets/import", json={"path": "bad.jsonl"})
    assert_error(response, 422, "data", "path")
    assert "line 2" in response.json()["error"]["message"]
    skipped = client.post(
        "/api/v1/datasets/import", json={"path": "bad.jsonl", "on_bad_record": "skip"}
    )
    assert skipped.status_code == 201 and skipped.json()["documents"] == 1
