"""Archives and compressed streams: zip, tar, and gzip/bzip2/xz/zstd streams (a tar inside
one is walked: .tar.gz, .tgz, .tar.bz2, .tar.xz, .tar.zst).

Nothing is extracted and nothing is read whole: a zip member is opened as a stream, a tar is
read front to back, a compressed stream is decompressed as it is read; each member
goes through the same readers as a plain file. One level only: an archive inside an archive
is skipped ("nested archive (not expanded)"). A tar is read by tarfile's seeking mode
over a stream that only seeks forward (streams.ForwardFile), which is all it asks.

Skipped members (listed in the report): unsafe names (absolute, or with ".."), hidden files,
symlinks, hard links, devices, FIFOs, encrypted zip members, members compressed with a
method zipfile lacks. Refused (DataError for the whole build): more than max_members
members, a member over max_member_bytes, an expansion over max_ratio or past
max_total_bytes (guard.py), and damaged data, since a stream cannot be read past damage.
"""

from __future__ import annotations

import stat
import tarfile
import zipfile
from collections.abc import Callable
from typing import BinaryIO

from worker.engine.corpus.context import Entry, SourceContext
from worker.engine.corpus.detect import CONTAINER_FORMATS, detect_head, is_tar
from worker.engine.corpus.guard import DAMAGED, GuardedStream, check_declared, too_many_members
from worker.engine.corpus.leaves import read_leaf
from worker.engine.corpus.names import clean, hidden_reason, unsafe_reason, without_compression
from worker.engine.corpus.streams import ForwardFile, Rewound, decompressing, read_head
from worker.engine.errors import DataError

try:  # a damaged .zst raises zstandard's own error
    from zstandard import ZstdError

    _DAMAGED = (*DAMAGED, ZstdError)
except ImportError:  # pragma: no cover
    _DAMAGED = DAMAGED

_NESTED = "nested archive (not expanded)"
_TAR_SKIPS: tuple[tuple[Callable[[tarfile.TarInfo], bool], str], ...] = (
    (tarfile.TarInfo.issym, "symlink"),
    (tarfile.TarInfo.islnk, "hard link"),
    (tarfile.TarInfo.ischr, "device"),
    (tarfile.TarInfo.isblk, "device"),
    (tarfile.TarInfo.isfifo, "fifo"),
)


def read_container(format: str, entry: Entry, ctx: SourceContext, prefix: str) -> str:
    """Writes the documents of every member; returns the container's format name ("zip",
    "tar.gz", "gz", ...). `prefix` goes before member names ("shards/a.zip/" in a folder)."""
    if format == "zip":
        _read_zip(entry, ctx, prefix)
        return "zip"
    if format == "tar":
        _read_tar(entry.stream, ctx, ctx.label(entry), prefix)
        return "tar"
    return _read_compressed(format, entry, ctx, prefix)


def _read_zip(entry: Entry, ctx: SourceContext, prefix: str) -> None:
    label = ctx.label(entry)
    file = entry.file
    if file is None:  # a zip inside a compressed stream: it would need seeking
        ctx.skip(entry.name, _NESTED)
        return
    file.seek(0)
    try:
        archive = zipfile.ZipFile(file)  # type: ignore[arg-type]
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{label} is not a readable zip archive: {exc}", field="file") from exc
    with archive:
        members = archive.infolist()
        limits = ctx.limits
        if len(members) > limits.max_members:
            raise too_many_members(label, limits)
        # The central directory's sizes bound what zipfile will produce (it stops a member
        # at its declared size), so the whole archive is judged before any decompression.
        declared = sum(m.file_size for m in members)
        check_declared(label, declared, file.size(), limits, ctx.budget, member=False)
        for member in members:
            if member.is_dir():
                continue
            name = prefix + clean(member.filename)
            reason = _zip_skip_reason(member)
            if reason:
                ctx.skip(_shown(prefix, member.filename, name, reason), reason)
                continue
            check_declared(
                f"{label}: {clean(member.filename)}",
                member.file_size,
                member.compress_size,
                limits,
                ctx.budget,
            )
            try:
                stream = archive.open(member)
            except NotImplementedError:
                ctx.skip(name, "compressed with a method this reader lacks")
                continue
            with stream:
                start = file.count
                guarded = GuardedStream(
                    stream,  # type: ignore[arg-type]
                    f"{label}: {clean(member.filename)}",
                    ctx.budget,
                    compressed=lambda start=start: file.count - start,
                    damaged=(*_DAMAGED, zipfile.BadZipFile),
                )
                _read_member(name, guarded, ctx)  # type: ignore[arg-type]


def _zip_skip_reason(member: zipfile.ZipInfo) -> str:
    reason = unsafe_reason(member.filename) or hidden_reason(member.filename)
    if reason:
        return reason
    mode = member.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_IFMT(mode) and not stat.S_ISREG(mode):
        return "not a regular file"
    if member.flag_bits & 0x1:
        return "encrypted"
    return ""


def _read_tar(stream: BinaryIO, ctx: SourceContext, label: str, prefix: str) -> None:
    try:
        with tarfile.open(fileobj=ForwardFile(stream), mode="r:") as archive:  # type: ignore[arg-type]
            _walk_tar(archive, ctx, label, prefix)
    except tarfile.TarError as exc:
        raise DataError(f"{label} is not a readable tar archive: {exc}", field="file") from exc


def _walk_tar(archive: tarfile.TarFile, ctx: SourceContext, label: str, prefix: str) -> None:
    limits = ctx.limits
    count = 0
    while (member := archive.next()) is not None:
        # tarfile keeps every header it has read, for getmembers(); a stream read once
        # needs none of them, and 100,000 would cost tens of MB.
        archive.members.clear()
        count += 1
        if count > limits.max_members:
            raise too_many_members(label, limits)
        if member.isdir():
            continue
        name = prefix + clean(member.name)
        reason = _tar_skip_reason(member)
        if reason:
            ctx.skip(_shown(prefix, member.name, name, reason), reason)
            continue
        check_declared(f"{label}: {clean(member.name)}", member.size, None, limits, ctx.budget)
        content = archive.extractfile(member)
        assert content is not None  # a regular file
        # its bytes are counted (and limited) by the stream the tar is read from
        _read_member(name, content, ctx)  # type: ignore[arg-type]


def _tar_skip_reason(member: tarfile.TarInfo) -> str:
    reason = unsafe_reason(member.name) or hidden_reason(member.name)
    if reason:
        return reason
    for test, why in _TAR_SKIPS:
        if test(member):
            return why
    return "" if member.isreg() else "not a regular file"


def _read_compressed(format: str, entry: Entry, ctx: SourceContext, prefix: str) -> str:
    label = ctx.label(entry)
    file = entry.file
    if file is None:
        ctx.skip(entry.name, _NESTED)
        return format
    content = GuardedStream(
        decompressing(format, entry.stream),
        label,
        ctx.budget,
        compressed=lambda: file.count,
        damaged=_DAMAGED,
    )
    head, at_eof = read_head(content)  # type: ignore[arg-type]
    stream = Rewound(head, content)  # type: ignore[arg-type]
    if is_tar(head):
        _read_tar(stream, ctx, label, prefix)  # type: ignore[arg-type]
        return f"tar.{format}"
    inner = Entry(
        name=without_compression(entry.name),
        stream=stream,  # type: ignore[arg-type]
        head=head,
        at_eof=at_eof,
        own=entry.own,
    )
    detection = detect_head(head, inner.name, at_eof)
    if detection.format in CONTAINER_FORMATS:
        ctx.skip(inner.name, _NESTED)
    else:
        read_leaf(inner, ctx, detection)
        if entry.own:
            ctx.report.count_member(detection.format)
    return format


def _shown(prefix: str, raw: str, name: str, reason: str) -> str:
    """A skipped member's name in the report: as the archive spells it if that is the
    problem ("/etc/passwd", "../x"), else cleaned."""
    return prefix + raw if reason.startswith("unsafe name") else name


def _read_member(name: str, stream: BinaryIO, ctx: SourceContext) -> None:
    head, at_eof = read_head(stream)
    detection = detect_head(head, name, at_eof)
    if detection.format in CONTAINER_FORMATS:
        ctx.skip(name, _NESTED)
        return
    entry = Entry(name=name, stream=Rewound(head, stream), head=head, at_eof=at_eof, own=False)  # type: ignore[arg-type]
    read_leaf(entry, ctx, detection)
