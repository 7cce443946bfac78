"""What a file or stream holds, told from its first bytes, with its name's extension as a hint.

Order of evidence:
1. magic numbers: archives and compressed streams (zip, tar, gz, bz2, xz, zst), Parquet,
   Arrow, and common binary files (images, PDFs, ...), which are named, not decoded;
2. the first bytes as text: a NUL byte or invalid UTF-8 makes a file binary;
3. the extension: .jsonl/.ndjson, .json, .csv, .tsv/.tab, and text or code (.txt, .md,
   .py, ...: text, never sniffed as JSON, so a structured log stays a text file);
4. the content of the rest: a first line that is a JSON object followed by another JSON
   object (or string) line is JSON Lines, a leading `[{` or `["` a JSON array (and `{"`
   one JSON object, which is refused or skipped); else text.
CSV is never guessed from content: commas are everywhere in prose.
"""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from worker.engine.corpus.streams import COMPRESSED_FORMATS, decompressing, read_head
from worker.engine.errors import DataError, NotTextError

BOM = b"\xef\xbb\xbf"
CONTAINER_FORMATS = ("zip", "tar", *COMPRESSED_FORMATS)
_TAR_MAGIC_AT = 257

_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
# Documents that are zip files inside: reading their XML as text would make nonsense.
_ZIPPED_DOCUMENTS = {
    "docx": "a Word document",
    "xlsx": "an Excel workbook",
    "pptx": "a PowerPoint presentation",
    "odt": "an OpenDocument text",
    "ods": "an OpenDocument spreadsheet",
    "odp": "an OpenDocument presentation",
    "epub": "an EPUB book",
    "jar": "a Java archive",
    "apk": "an Android package",
    "whl": "a Python wheel",
}
_BINARY_KINDS: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"\x00\x00\x01\x00", "an icon"),
    (b"OggS", "an Ogg audio or video file"),
    (b"fLaC", "a FLAC audio file"),
    (b"ID3", "an MP3 audio file"),
    (b"\x1aE\xdf\xa3", "a Matroska/WebM video"),
    (b"\x7fELF", "an executable (ELF)"),
    (b"MZ", "a Windows executable"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Microsoft Office document"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\x04\x22\x4d\x18", "an LZ4 stream"),
    (b"\x80\x02", "a Python pickle"),
    (b"\x80\x04", "a Python pickle"),
    (b"\x80\x05", "a Python pickle"),
    (b"\x93NUMPY", "a NumPy array"),
    (b"\xca\xfe\xba\xbe", "a compiled Java class"),
    (b"\x00asm", "a WebAssembly module"),
)
_BINARY_MAGICS = tuple(magic for magic, _ in _BINARY_KINDS)
# RIFF containers say what they are at offset 8.
_RIFF_KINDS = {b"WEBP": "a WebP image", b"WAVE": "a WAV audio file", b"AVI ": "an AVI video"}
_ISO_MEDIA = (b"ftyp",)  # MP4, MOV, HEIC: "....ftyp" at offset 4

# Text and code: read as text, never sniffed for JSON.
_TEXT_NAMES = (
    "txt text md markdown mdx rst adoc asciidoc org tex bib log srt vtt html htm xhtml xml "
    "svg css scss less py pyi ipynb js jsx mjs ts tsx c h cc cpp cxx hpp hh cs java kt kts "
    "scala go rs rb php pl pm lua r jl swift m mm hs ml mli ex exs erl clj cljs el vim sh "
    "bash zsh fish ps1 bat sql yaml yml toml ini cfg conf properties env dockerfile make cmake "
    "gradle proto graphql tf nix dart zig nim v sv vhd asm s f90 pas"
)
_TEXT_EXTENSIONS = frozenset(_TEXT_NAMES.split())
_EXTENSION_FORMATS = {"jsonl": "jsonl", "ndjson": "jsonl", "csv": "csv", "tsv": "tsv", "tab": "tsv"}
_LEADING_SPACE = re.compile(rb"[ \t\r\n]*")
_ARRAY_START = re.compile(rb"\[[ \t\r\n]*[\[{\"\]]")
_OBJECT_START = re.compile(rb"\{[ \t\r\n]*[\"}]")


@dataclass(frozen=True)
class Detection:
    format: str  # text, jsonl, json, csv, tsv, parquet, arrow, zip, tar, gz, ..., binary
    reason: str = ""  # binary: why, as a skipped entry's reason ("binary: a PNG image")


def extension(name: str) -> str:
    suffix = PurePosixPath(name.replace("\\", "/")).suffix
    return suffix[1:].lower()


def detect_head(head: bytes, name: str, at_eof: bool) -> Detection:
    """The format of a stream that starts with `head` (HEAD_BYTES, or all of it if
    `at_eof`). Containers and columnar formats by magic; text formats as the module says."""
    magic = _by_magic(head, name, at_eof)
    if magic is not None:
        return magic
    text_start = len(BOM) if head.startswith(BOM) else 0
    found = _text_format(head, text_start, name, at_eof)
    # A bad byte in JSON Lines is one bad record, found by the reader with its line; other
    # formats cannot go on past one, so a bad head makes the file binary before any of it
    # is written (a NUL byte makes any file binary).
    problem = text_problem(head, text_start, at_eof, utf8=found != "jsonl")
    return Detection("binary", problem) if problem else Detection(found)


def _text_format(head: bytes, text_start: int, name: str, at_eof: bool) -> str:
    ext = extension(name)
    if ext in _EXTENSION_FORMATS:
        return _EXTENSION_FORMATS[ext]
    if ext in _TEXT_EXTENSIONS:
        return "text"
    body = head[text_start:]
    start = _LEADING_SPACE.match(body)
    body = body[start.end() if start else 0 :]
    if ext == "json":
        return "jsonl" if _looks_like_jsonl(body, at_eof, named_json=True) else "json"
    if body.startswith(b"{") and _looks_like_jsonl(body, at_eof, named_json=False):
        return "jsonl"
    if _ARRAY_START.match(body) or _OBJECT_START.match(body):
        return "json"
    return "text"


def detect_format(path: Path, name: str) -> str:
    """The format of one input, as build_corpus would read it: "directory"; a container
    ("zip", "tar", "gz", "bz2", "xz", "zst", or "tar.gz" & co. for a compressed tar); "text",
    "jsonl", "json", "csv", "tsv", "parquet", "arrow"; or "binary" (not usable)."""
    path = Path(path)
    if path.is_dir():
        return "directory"
    try:
        with path.open("rb") as file:
            head, at_eof = read_head(file)
            found = detect_head(head, name, at_eof).format
            if found not in COMPRESSED_FORMATS:
                return found
            file.seek(0)
            try:
                inner, _ = read_head(decompressing(found, file), _TAR_MAGIC_AT + 8)
            except Exception:  # damaged: reading it will say how
                return found
            return f"tar.{found}" if is_tar(inner) else found
    except OSError as exc:
        raise DataError(f"cannot read {name}: {exc.strerror}", field="file") from exc


def is_tar(head: bytes) -> bool:
    return head[_TAR_MAGIC_AT : _TAR_MAGIC_AT + 5] == b"ustar"


def _by_magic(head: bytes, name: str, at_eof: bool) -> Detection | None:
    if head.startswith(_ZIP_MAGICS):
        kind = _ZIPPED_DOCUMENTS.get(extension(name))
        return Detection("binary", f"binary: {kind}") if kind else Detection("zip")
    if head.startswith(b"\x1f\x8b"):
        return Detection("gz")
    if head.startswith(b"BZh") and head[4:10] in (b"1AY&SY", b"\x17rE8P\x90"):
        return Detection("bz2")
    if head.startswith(b"\xfd7zXZ\x00"):
        return Detection("xz")
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return Detection("zst")
    if head.startswith(b"PAR1") and text_problem(head, 0, at_eof):  # not "PAR1 notes.txt"
        return Detection("parquet")
    if head.startswith(b"ARROW1") or head.startswith(b"\xff\xff\xff\xff"):
        return Detection("arrow")
    if is_tar(head):
        return Detection("tar")
    if head.startswith(_BINARY_MAGICS):
        kind = next(kind for magic, kind in _BINARY_KINDS if head.startswith(magic))
        return Detection("binary", f"binary: {kind}")
    if head.startswith(b"RIFF") and head[8:12] in _RIFF_KINDS:
        return Detection("binary", f"binary: {_RIFF_KINDS[head[8:12]]}")
    if head[4:8] in _ISO_MEDIA:
        return Detection("binary", "binary: an MP4/QuickTime video or HEIC image")
    return None


_CONTAINER_NAMES = {
    "zip": "a ZIP archive",
    "gz": "a gzip stream",
    "bz2": "a bzip2 stream",
    "xz": "an xz stream",
    "zst": "a Zstandard stream",
    "tar": "a tar archive",
    "parquet": "a Parquet file",
    "arrow": "an Arrow file",
}


def binary_kind(head: bytes) -> str | None:
    """What a file starting with `head` is when it is not text ("a PNG image", "a ZIP
    archive"), or None: for a reader of plain text that wants to name what it was given."""
    detection = _by_magic(head, "", at_eof=False)
    if detection is None:
        return None
    if detection.format == "binary":
        return detection.reason.removeprefix("binary: ")
    return _CONTAINER_NAMES.get(detection.format)


def text_problem(data: bytes, text_start: int, at_eof: bool, *, utf8: bool = True) -> str:
    """Why `data` (a stream's first bytes) is not text, or "": a NUL byte, or (if `utf8`)
    invalid UTF-8, whichever comes first."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "not UTF-8 text: this is UTF-16 text (save it as UTF-8)"
    nul = data.find(b"\0", text_start)
    end = len(data) if nul < 0 else nul
    if utf8:
        try:
            codecs.utf_8_decode(data[text_start:end], "strict", at_eof and nul < 0)
        except UnicodeDecodeError as exc:
            offset = text_start + exc.start
            return f"not UTF-8 text: invalid byte 0x{data[offset]:02x} at {place(data, offset)}"
    if nul >= 0:
        return f"binary: a NUL byte at {place(data, nul)}"
    return ""


def place(data: bytes, offset: int) -> str:
    """Where data[offset] is: 'byte offset N (line L)'."""
    return at_place(offset, data.count(b"\n", 0, offset) + 1)


def at_place(offset: int, line: int) -> str:
    return f"byte offset {offset} (line {line})"


def refusal(reason: str, label: str) -> NotTextError:
    """The error for a source's own file that is not usable (a member would be skipped)."""
    if reason.startswith("not UTF-8 text"):
        return NotTextError(
            f"{reason} of {label}; save the file with UTF-8 encoding and try again", field="file"
        )
    if reason.startswith("binary: a NUL byte"):
        where = reason.removeprefix("binary: a NUL byte at ")
        return NotTextError(
            f"not a text file: NUL byte at {where} of {label}; this looks like a binary file",
            field="file",
        )
    kind = reason.removeprefix("binary: ")
    return NotTextError(
        f"{label} is not a text file: it is {kind}; use text, JSON Lines, JSON, CSV, "
        "Parquet or Arrow files, or an archive of them",
        field="file",
    )


def _looks_like_jsonl(body: bytes, at_eof: bool, *, named_json: bool) -> bool:
    """Whether a stream's text (from its first non-blank byte) is JSON Lines: its first line
    a JSON object and the next non-blank one a JSON object or string too. One object alone
    is not enough (a minified package.json is one object on one line). A line cut by the end
    of the head is judged by how it starts, except in a file named .json, which says JSON
    (a vocab.json of 1 MB on one line is not a dataset); such JSON Lines need .jsonl."""
    lines = body.split(b"\n")
    complete = [line for line in (lines if at_eof else lines[:-1]) if line.strip()][:2]
    if not complete:  # the first line is longer than the head
        return not named_json and body.startswith(b'{"')
    try:
        values = [json.loads(line) for line in complete]
    except ValueError:
        return False
    if not isinstance(values[0], dict):
        return False
    if len(values) == 2:
        return isinstance(values[1], dict | str)
    cut = lines[-1].lstrip()  # the next line, cut by the end of the head ("" at the end)
    return not at_eof and not named_json and cut.startswith((b"{", b'"'))
