"""Receive an upload straight to disk: multipart field "file" or a raw body, parsed as it
streams in, never held whole in memory, the size limit enforced while it streams."""

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
_MAX_TEXT_FIELD = 1024  # a "name" field; anything bigger is not a name
_WRITE_BUFFER = 1 << 20


@dataclass
class Upload:
    path: Path
    size: int
    filename: str | None
    fields: dict[str, str]


class _Sink:
    """Buffered writes to a temp file, counting bytes against the limit."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.size = 0
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._buffer = bytearray()

    def write(self, data: bytes | memoryview) -> None:
        self.size += len(data)
        if self.size > self.max_bytes:
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
        if self._fd >= 0:
            self._flush()
            os.close(self._fd)
            self._fd = -1


async def receive_upload(request: Request, *, tmp_dir: Path, max_bytes: int) -> Upload:
    """Stream the request body into tmp_dir; on any error the partial file is removed."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes + 64 * 1024:
        raise TooLargeError(
            f"the upload ({int(declared):,} bytes) is larger than the limit of {max_bytes:,}",
            field=FILE_FIELD,
        )
    tmp_dir.mkdir(parents=True, exist_ok=True)
    path = tmp_dir / f"upload-{secrets.token_hex(8)}.part"
    sink = _Sink(path, max_bytes)
    try:
        content_type, params = parse_options_header(request.headers.get("content-type"))
        if content_type == b"multipart/form-data":
            filename, fields = await _receive_multipart(request, params, sink)
        else:
            async for chunk in request.stream():
                sink.write(chunk)
            filename, fields = None, {}
        sink.close()
    except BaseException:
        sink.close()
        path.unlink(missing_ok=True)
        raise
    return Upload(path=path, size=sink.size, filename=filename, fields=fields)


async def _receive_multipart(
    request: Request, params: dict[bytes, bytes], sink: _Sink
) -> tuple[str | None, dict[str, str]]:
    boundary = params.get(b"boundary")
    if not boundary:
        raise InvalidError("multipart body without a boundary", field="content-type")
    state: dict[str, Any] = {"headers": {}, "name": None, "filename": None, "text": bytearray()}
    fields: dict[str, str] = {}
    seen_file = False
    header_field = bytearray()
    header_value = bytearray()

    def on_part_begin() -> None:
        state.update(headers={}, name=None, filename=None, text=bytearray())

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        state["headers"][bytes(header_field).lower()] = bytes(header_value)
        header_field.clear()
        header_value.clear()

    def on_headers_finished() -> None:
        nonlocal seen_file
        _, disp = parse_options_header(state["headers"].get(b"content-disposition"))
        state["name"] = disp.get(b"name", b"").decode("utf-8", "replace")
        if state["name"] == FILE_FIELD and not seen_file:
            seen_file = True
            raw = disp.get(b"filename")
            state["filename"] = raw.decode("utf-8", "replace") if raw is not None else None
            state["is_file"] = True
        else:
            state["is_file"] = False

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["is_file"]:
            sink.write(memoryview(data)[start:end])
        elif len(state["text"]) + end - start <= _MAX_TEXT_FIELD:
            state["text"].extend(data[start:end])

    filename: str | None = None

    def on_part_end() -> None:
        nonlocal filename
        if state["is_file"]:
            filename = state["filename"]
        elif state["name"]:
            fields[state["name"]] = bytes(state["text"]).decode("utf-8", "replace")

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
    if not seen_file:
        raise InvalidError(f'multipart upload without a "{FILE_FIELD}" field', field=FILE_FIELD)
    return filename, fields
