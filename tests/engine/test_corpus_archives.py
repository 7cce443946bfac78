"""Archives and compressed streams, read as streams, and the hostile ones refused or skipped."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import tarfile
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from corpus_helpers import build, documents, leftovers, write

from worker.engine.corpus import ArchiveLimits
from worker.engine.errors import DataError

MEMBERS = {
    "docs/a.txt": b"alpha\n",
    "docs/b.md": b"\xef\xbb\xbf# beta",
    "data/c.jsonl": b'{"text": "gamma"}\n{"text": "delta"}\n',
}
EXPECTED = ["alpha\n", "# beta", "gamma", "delta"]


def tar_bytes(members: dict[str, bytes], *, special: tuple[tarfile.TarInfo, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in special:
            tar.addfile(info)
    return buffer.getvalue()


def zip_file(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("docs/", b"")  # a directory entry: ignored
        for name, data in members.items():
            archive.writestr(name, data)
    return path


COMPRESS = {
    "gz": gzip.compress,
    "bz2": bz2.compress,
    "xz": lzma.compress,
    "zst": lambda data: zstandard.ZstdCompressor().compress(data),
}


@pytest.mark.parametrize(
    ("name", "format"),
    [
        ("corpus.zip", "zip"),
        ("corpus.tar", "tar"),
        ("corpus.tar.gz", "tar.gz"),
        ("corpus.tgz", "tar.gz"),
        ("corpus.tar.bz2", "tar.bz2"),
        ("corpus.tar.xz", "tar.xz"),
        ("corpus.tar.zst", "tar.zst"),
    ],
)
def test_every_archive_kind(tmp_path: Path, name: str, format: str) -> None:
    path = tmp_path / name
    if format == "zip":
        zip_file(path, MEMBERS)
    else:
        data = tar_bytes(MEMBERS)
        compression = format.removeprefix("tar").removeprefix(".")
        write(path, COMPRESS[compression](data) if compression else data)
    corpus, report = build(tmp_path, path)
    assert documents(corpus) == EXPECTED
    summary = report.sources[0]
    assert summary.format == format
    assert summary.members == {"text": 2, "jsonl": 1}
    assert summary.documents == 4
    assert summary.bytes == path.stat().st_size


@pytest.mark.parametrize("compression", ["gz", "bz2", "xz", "zst"])
def test_a_compressed_single_file(tmp_path: Path, compression: str) -> None:
    data = b'{"text": "one"}\n{"text": "two"}\n'
    path = write(tmp_path / f"data.jsonl.{compression}", COMPRESS[compression](data))
    corpus, report = build(tmp_path, path)
    assert documents(corpus) == ["one", "two"]
    summary = report.sources[0]
    assert (summary.format, summary.members, summary.text_field) == (
        compression,
        {"jsonl": 1},
        "text",
    )


def test_an_archive_inside_a_compressed_stream_is_not_expanded(tmp_path: Path) -> None:
    inner = zip_file(tmp_path / "inner.zip", {"a.txt": b"a"}).read_bytes()
    path = write(tmp_path / "inner.zip.gz", gzip.compress(inner))
    other = write(tmp_path / "other.txt", "other")
    corpus, report = build(tmp_path, path, other)
    assert corpus == b"other"
    assert [(s.entry, s.reason) for s in report.sources[0].skipped] == [
        ("inner.zip", "nested archive (not expanded)")
    ]


def test_concatenated_streams_are_read_whole(tmp_path: Path) -> None:
    for compression in COMPRESS:
        write(
            tmp_path / f"x.txt.{compression}",
            COMPRESS[compression](b"first half, ") + COMPRESS[compression](b"second half"),
        )
    sources = [tmp_path / f"x.txt.{c}" for c in COMPRESS]
    corpus, _ = build(tmp_path, *sources)
    assert documents(corpus) == ["first half, second half"] * 4


def test_parquet_and_arrow_members(tmp_path: Path) -> None:
    table = pa.table({"text": ["from parquet 1", "from parquet 2"]})
    parquet = io.BytesIO()
    pq.write_table(table, parquet)
    stream = io.BytesIO()
    with pa.ipc.new_stream(stream, table.schema) as writer:
        writer.write_table(pa.table({"text": ["from arrow"]}))
    file_format = io.BytesIO()
    with pa.ipc.new_file(file_format, table.schema) as writer:
        writer.write_table(pa.table({"text": ["from feather"]}))
    members = {
        "a.parquet": parquet.getvalue(),
        "b.arrow": stream.getvalue(),
        "c.feather": file_format.getvalue(),
    }
    zipped = zip_file(tmp_path / "tables.zip", members)
    tarred = write(tmp_path / "tables.tar.gz", gzip.compress(tar_bytes(members)))
    corpus, report = build(tmp_path, zipped, tarred)
    assert (
        documents(corpus) == ["from parquet 1", "from parquet 2", "from arrow", "from feather"] * 2
    )
    assert [s.members for s in report.sources] == [{"parquet": 1, "arrow": 2}] * 2
    assert leftovers(tmp_path) == ["corpus.txt"]  # the Parquet copies are gone


def _special(name: str, kind: bytes, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


def test_hostile_tar_members_are_skipped(tmp_path: Path) -> None:
    nested = zip_file(tmp_path / "inner.zip", {"x.txt": b"inside"}).read_bytes()
    members = {
        "ok.txt": b"kept",
        "../evil.txt": b"escape",
        "/etc/passwd.txt": b"absolute",
        "sub/../../up.txt": b"escape too",
        "nested.zip": nested,
        "inner.txt.gz": gzip.compress(b"nested stream"),
        ".hidden/secret.txt": b"hidden",
        "picture.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
        "latin1.txt": "café".encode("latin-1"),
        "last.txt": b"also kept",
    }
    special = (
        _special("link.txt", tarfile.SYMTYPE, "/etc/passwd"),
        _special("hard.txt", tarfile.LNKTYPE, "ok.txt"),
        _special("dev", tarfile.CHRTYPE),
        _special("pipe", tarfile.FIFOTYPE),
    )
    path = write(tmp_path / "hostile.tar.gz", gzip.compress(tar_bytes(members, special=special)))
    corpus, report = build(tmp_path, path)
    assert documents(corpus) == ["kept", "also kept"]
    summary = report.sources[0]
    assert [(s.entry, s.reason) for s in summary.skipped] == [
        ("../evil.txt", "unsafe name: '..' in the name"),
        ("/etc/passwd.txt", "unsafe name: an absolute path"),
        ("sub/../../up.txt", "unsafe name: '..' in the name"),
        ("nested.zip", "nested archive (not expanded)"),
        ("inner.txt.gz", "nested archive (not expanded)"),
        (".hidden/secret.txt", "hidden file"),
        ("picture.png", "binary: a PNG image"),
        ("latin1.txt", "not UTF-8 text: invalid byte 0xe9 at byte offset 3 (line 1)"),
        ("link.txt", "symlink"),
        ("hard.txt", "hard link"),
        ("dev", "device"),
        ("pipe", "fifo"),
    ]
    assert summary.members == {"text": 2}


def test_hostile_zip_members_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "hostile.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("ok.txt", "kept")
        archive.writestr("../evil.txt", "escape")
        archive.writestr("C:/windows.txt", "absolute")
        archive.writestr("__MACOSX/._ok.txt", "resource fork")
        link = zipfile.ZipInfo("link.txt")
        link.external_attr = (0o120777 << 16) | 0x20
        archive.writestr(link, "/etc/passwd")
        archive.writestr("secret.txt", "to be marked encrypted")
    _mark_encrypted(path, "secret.txt")
    corpus, report = build(tmp_path, path)
    assert corpus == b"kept"
    assert [(s.entry, s.reason) for s in report.sources[0].skipped] == [
        ("../evil.txt", "unsafe name: '..' in the name"),
        ("C:/windows.txt", "unsafe name: an absolute path"),
        ("__MACOSX/._ok.txt", "hidden file"),
        ("link.txt", "symlink"),
        ("secret.txt", "encrypted"),
    ]


def test_a_json_object_in_an_archive_is_skipped_not_an_error(tmp_path: Path) -> None:
    members = {"package.json": b'{"name": "app"}', "data.json": b'[{"text": "kept"}]'}
    corpus, report = build(tmp_path, zip_file(tmp_path / "repo.zip", members))
    assert corpus == b"kept"
    assert [(s.entry, s.reason) for s in report.sources[0].skipped] == [
        ("package.json", "a JSON object, not a list of documents")
    ]


def _mark_encrypted(path: Path, name: str) -> None:
    """Sets the 'encrypted' flag of a member, as a password-protected zip has it (zipfile
    cannot write one): in its local header and in the central directory."""
    data = bytearray(path.read_bytes())
    encoded = name.encode()
    local = data.find(b"PK\x03\x04")
    while local >= 0:
        if data[local + 30 : local + 30 + len(encoded)] == encoded:
            data[local + 6] |= 1
        local = data.find(b"PK\x03\x04", local + 4)
    central = data.find(b"PK\x01\x02")
    while central >= 0:
        if data[central + 46 : central + 46 + len(encoded)] == encoded:
            data[central + 8] |= 1
        central = data.find(b"PK\x01\x02", central + 4)
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def zip_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 MB of zeros deflated to about 200 KB, written streaming."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.zip"
    block = bytes(1 << 20)
    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("zeros.txt", "w") as member,
    ):
        for _ in range(200):
            member.write(block)
    assert path.stat().st_size < 1 << 20
    return path


SMALL = ArchiveLimits(ratio_floor_bytes=1 << 20, max_member_bytes=64 << 20)


def test_a_zip_bomb_is_refused_before_it_is_decompressed(tmp_path: Path, zip_bomb: Path) -> None:
    with pytest.raises(DataError, match=r"bomb.zip expands more than 200 times") as caught:
        build(tmp_path, zip_bomb)
    assert "archive bomb" in caught.value.message
    assert leftovers(tmp_path) == []
    with pytest.raises(DataError, match=r"bomb.zip: zeros.txt is 200.0 MiB uncompressed, more"):
        build(tmp_path, zip_bomb, limits=ArchiveLimits(max_member_bytes=64 << 20, max_ratio=1e9))


def test_a_compressed_stream_is_refused_once_its_ratio_shows(tmp_path: Path) -> None:
    path = write(tmp_path / "repeated.txt.gz", gzip.compress(b"a" * (20 << 20), compresslevel=9))
    with pytest.raises(DataError, match=r"repeated.txt.gz expands more than 200 times") as caught:
        build(tmp_path, path, limits=SMALL)
    assert "looks like an archive bomb" in caught.value.message
    assert leftovers(tmp_path) == []
    # the same text under the floor is no bomb: a small repetitive file is fine
    small = write(tmp_path / "small.txt.gz", gzip.compress(b"a" * (512 << 10), compresslevel=9))
    corpus, _ = build(tmp_path, small, limits=SMALL)
    assert len(corpus) == 512 << 10


def test_the_member_and_total_limits(tmp_path: Path) -> None:
    big = {"big.txt": b"x" * 5000}
    tarred = write(tmp_path / "big.tar", tar_bytes(big))
    with pytest.raises(DataError, match=r"big.tar: big.txt is 4.9 KiB uncompressed, more than"):
        build(tmp_path, tarred, limits=ArchiveLimits(max_member_bytes=4096))
    streamed = write(tmp_path / "big.txt.xz", lzma.compress(b"x" * 5000))
    with pytest.raises(DataError, match=r"big.txt.xz expands to more than 4.0 KiB \(the limit"):
        build(tmp_path, streamed, limits=ArchiveLimits(max_member_bytes=4096))
    plain = write(tmp_path / "plain.txt", "y" * 3000)
    with pytest.raises(DataError, match=r"the inputs expand to more than 4.0 KiB in all"):
        build(tmp_path, plain, plain, limits=ArchiveLimits(max_total_bytes=4096))
    with pytest.raises(DataError, match=r"the inputs expand to more than 4.0 KiB in all"):
        build(tmp_path, tarred, limits=ArchiveLimits(max_total_bytes=4096))
    zipped = zip_file(tmp_path / "big.zip", big)
    with pytest.raises(DataError, match=r"big.zip: the inputs expand to more than 4.0 KiB"):
        build(tmp_path, plain, zipped, limits=ArchiveLimits(max_total_bytes=4096))
    assert leftovers(tmp_path) == []


def test_too_many_members(tmp_path: Path) -> None:
    members = {f"f{i}.txt": b"x" for i in range(6)}
    zipped = zip_file(tmp_path / "many.zip", members)
    tarred = write(tmp_path / "many.tar.bz2", bz2.compress(tar_bytes(members)))
    for path in (zipped, tarred):
        with pytest.raises(DataError, match=r"holds more than 5 members .* archive bomb"):
            build(tmp_path, path, limits=ArchiveLimits(max_members=5))


def test_damaged_data_is_an_error(tmp_path: Path) -> None:
    whole = gzip.compress(json.dumps({"text": "x" * 10_000}).encode() * 50)
    cut = write(tmp_path / "cut.jsonl.gz", whole[: len(whole) // 2])
    with pytest.raises(DataError, match=r"cut.jsonl.gz: the compressed data is damaged"):
        build(tmp_path, cut)
    not_a_zip = write(tmp_path / "fake.zip", b"PK\x03\x04" + b"garbage" * 10)
    with pytest.raises(DataError, match=r"fake.zip is not a readable zip archive"):
        build(tmp_path, not_a_zip)
    assert leftovers(tmp_path) == []
