"""Hostile corpora against the running API on both backends (SQLite + valkey, PostgreSQL +
Redis): an archive bomb, unsafe and linked members, a bad JSON line, a CSV without the column,
paths outside the import directories. Each is refused or skipped with its reason, and a
refusal stores nothing."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

from studio_stack import assert_error


def total(api) -> int:
    return api.get("/datasets").json()["total"]


def test_a_zip_bomb_is_refused_and_nothing_is_stored(api):
    bomb = io.BytesIO()  # 200 MB of zeros deflate to ~200 kB: a ratio past 200 once past 64 MiB
    with (
        zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("zeros.txt", "w") as member,
    ):
        for _ in range(200):
            member.write(b"0" * (1 << 20))
    before = total(api)
    response = api.post("/datasets?name=bomb.zip", content=bomb.getvalue())
    assert_error(response, 422, "data", "file")
    assert "bomb" in response.json()["error"]["message"]
    assert total(api) == before


def test_unsafe_and_linked_members_are_skipped_with_their_reason(api):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in (("good.txt", b"kept\n"), ("../up.txt", b"no\n"), ("/abs.txt", b"no\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("passwd")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    response = api.post("/datasets?name=mixed.tar.gz", content=buffer.getvalue())
    assert response.status_code == 201, response.text
    [source] = response.json()["sources"]
    assert source["documents"] == 1 and source["skipped_count"] == 3
    reasons = {s["entry"]: s["reason"] for s in source["skipped"]}
    assert set(reasons) == {"../up.txt", "/abs.txt", "passwd"}
    assert "symlink" in reasons["passwd"]


def test_bad_records_name_their_file_and_line_or_column(api):
    before = total(api)
    bad = api.post("/datasets?name=d.jsonl", content=b'{"text": "a"}\n{"text": \n')
    assert_error(bad, 422, "data")
    assert "d.jsonl line 2" in bad.json()["error"]["message"]
    csv = api.post("/datasets?name=t.csv&text_field=body", content=b"title,text\nA,b\n")
    assert_error(csv, 422, field="text_field")
    assert "'text'" in csv.json()["error"]["message"]
    assert total(api) == before


def test_import_stays_inside_its_directories(api, services, tmp_path):
    root = Path(services["STUDIO_IMPORT_DIRS"])
    (root / "ok").mkdir(exist_ok=True)
    (root / "ok" / "a.txt").write_text("imported text\n")
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours\n")
    link = root / "ok" / "escape.txt"
    if not link.exists():
        os.symlink(secret, link)
    for path in (str(secret), str(link), str(root / ".." / "secret.txt")):
        assert_error(api.post("/datasets/import", json={"path": path}), 403)
    imported = api.post("/datasets/import", json={"path": str(root / "ok")})
    assert imported.status_code == 201, imported.text
    [source] = imported.json()["sources"]
    assert source["documents"] == 1 and [s["entry"] for s in source["skipped"]] == ["escape.txt"]
