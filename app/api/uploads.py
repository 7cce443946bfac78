"""Receive an upload straight to disk: one or more multipart `file` parts (or a raw body),
parsed as they stream in, never held whole in memory, the size limit enforced while they
stream (one limit for the whole request, whatever the number of files)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import parse_options_header
from starlette.requests import Request

from app.store.errors import InvalidError, TooLargeError

FILE_FIELD = "file"
# A dropped folder can hold many files, each a temp file while the request streams; past
# this many the client should send an archive.
MAX_FILES = 10_000
_MAX_TEXT_FIELD = 1024  # a "name" or "text_field" field; anything bigger is refused (413)
_WRITE_BUFFER = 1 << 20


@dataclass(frozen=True)
class ReceivedFile:
    path: Path
    size: int
    filename: str | None  # as the client sent it (a folder upload sends "folder/sub/a.txt")


@dataclass
class Upload:
    files: list[ReceivedFile]
    fields: dict[str, str]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    def discard(self) -> None:
        for received in self.files:
            received.path.unlink(missing_ok=True)


class _Receiver:
    """Buffered writes to one temp file per part, counting every byte against one limit."""

    def __init__(self, tmp_dir: Path, max_bytes: int) -> None:
        self.tmp_dir = tmp_dir
        self.max_bytes = max_bytes
        self.total = 0
        self.files: list[ReceivedFile] = []
        self._path: Path | None = None
        self._filename: str | None = None
        self._size = 0
        self._fd = -1
        self._buffer = bytearray()

    def open(self, filename: str | None) -> None:
        if len(self.files) >= MAX_FILES:
            raise InvalidError(
                f"more than {MAX_FILES:,} files in one upload; send them as an archive "
                "(.zip, .tar.gz) instead",
                field=FILE_FIELD,
            )
        self._path = self.tmp_dir / f"upload-{secrets.token_hex(8)}.part"
        self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._filename, self._size = filename, 0

    def write(self, data: bytes | memoryview) -> None:
        self.total += len(data)
        self._size += len(data)
        if self.total > self.max_bytes:
            raise TooLargeError(
                f"the upload is larger than the limit of {self.max_bytes:,} bytes "
                "(STUDIO_MAX_UPLOAD_BYTES)",
                field=FILE_FIELD,
            )
        self._buffer += data
        if len(self._buffer) >= _WRITE_BUFFER:
            self._flush()

    def _flush(self) -> None:
        written = 0
        with memoryview(self._buffer) as view:
            while written < len(view):
                written += os.write(self._fd, view[written:])
        self._buffer.clear()

    def close(self) -> None:
        """Ends the file being written (if any) and lists it."""
        if self._fd < 0:
            return
        try:
            self._flush()
        finally:
            os.close(self._fd)
            self._fd = -1
        assert self._path is not None
        self.files.append(ReceivedFile(self._path, self._size, self._filename))

    def abort(self) -> None:
        """Removes everything received so far (the request failed)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            if self._path is not None:
                self._path.unlink(missing_ok=True)
        for received in self.files:
            received.path.unlink(missing_ok=True)


async def receive_upload(request: Request, *, tmp_dir: Path, max_bytes: int) -> Upload:
    """Stream the request body into tmp_dir; on any error every partial file is removed."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes + 64 * 1024:
        raise TooLargeError(
            f"the upload ({int(declared):,} bytes) is larger than the limit of {max_bytes:,}",
            field=FILE_FIELD,
        )
    tmp_dir.mkdir(parents=True, exist_ok=True)
    receiver = _Receiver(tmp_dir, max_bytes)
    try:
        content_type, params = parse_options_header(request.headers.get("content-type"))
        if content_type == b"multipart/form-data":
            fields = await _receive_multipart(request, params, receiver)
        else:
            receiver.open(None)
            async for chunk in request.stream():
                receiver.write(chunk)
            receiver.close()
            fields = {}
    except BaseException:
        receiver.abort()
        raise
    return Upload(files=receiver.files, fields=fields)


async def _receive_multipart(
    request: Request, params: dict[bytes, bytes], receiver: _Receiver
) -> dict[str, str]:
    boundary = params.get(b"boundary")
    if not boundary:
        raise InvalidError("multipart body without a boundary", field="content-type")
    part: dict[str, Any] = {"headers": {}, "name": None, "is_file": False, "text": bytearray()}
    fields: dict[str, str] = {}
    header_field = bytearray()
    header_value = bytearray()

    def on_part_begin() -> None:
        part.update(headers={}, name=None, is_file=False, text=bytearray())

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        part["headers"][bytes(header_field).lower()] = bytes(header_value)
        header_field.clear()
        header_value.clear()

    def on_headers_finished() -> None:
        _, disp = parse_options_header(part["headers"].get(b"content-disposition"))
        part["name"] = disp.get(b"name", b"").decode("utf-8", "replace")
        part["is_file"] = part["name"] == FILE_FIELD
        if part["is_file"]:
            raw = disp.get(b"filename")
            receiver.open(raw.decode("utf-8", "replace") if raw is not None else None)

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if part["is_file"]:
            receiver.write(memoryview(data)[start:end])
        elif len(part["text"]) + end - start <= _MAX_TEXT_FIELD:
            part["text"].extend(data[start:end])
        else:  # a form field is a name or a choice, never a document: refused, not cut
            raise TooLargeError(
                f"the form field {part['name']!r} is over {_MAX_TEXT_FIELD:,} bytes",
                field=part["name"] or None,
            )

    def on_part_end() -> None:
        if part["is_file"]:
            receiver.close()
        elif part["name"]:
            try:
                fields[part["name"]] = bytes(part["text"]).decode("utf-8")
            except UnicodeDecodeError:  # refused, not patched with U+FFFD
                raise InvalidError(
                    f"the form field {part['name']!r} is not UTF-8 text", field=part["name"]
                ) from None

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        raise InvalidError(f"malformed multipart body: {exc}", field=FILE_FIELD) from exc
    if not receiver.files:
        raise InvalidError(f'multipart upload without a "{FILE_FIELD}" field', field=FILE_FIELD)
    return fields
