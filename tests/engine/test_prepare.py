"""prepare, inspect_text, read_meta and token_memmap on real files."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from worker.engine.data.prepare import inspect_text, prepare, read_meta, token_memmap
from worker.engine.errors import ConfigError, DataError
from worker.engine.tokenizers.gpt2 import gpt2_encoding
from worker.engine.tokenizers.load import tokenizer_from_meta

REPO = Path(__file__).resolve().parents[2]
SHAKESPEARE = Path("/work/shared/data/tinyshakespeare.txt")
SAMPLE = SHAKESPEARE.read_text(encoding="utf-8")[:60_000]
CONTRACT_META_KEYS = {
    "format",
    "tokenizer",
    "vocab_size",
    "dtype",
    "train_tokens",
    "val_tokens",
    "val_fraction",
    "source_sha256",
    "characters",
    "lines",
    "bytes",
}


def write(tmp_path: Path, content: str | bytes, name: str = "input.txt") -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_bytes(content.encode("utf-8"))
    else:
        path.write_bytes(content)
    return path


def decoded_splits(out_dir: Path) -> tuple[str, str]:
    tokenizer = tokenizer_from_meta(read_meta(out_dir)["tokenizer"])
    train = tokenizer.decode(token_memmap(out_dir, "train").tolist())
    val = tokenizer.decode(token_memmap(out_dir, "val").tolist())
    return train, val


@pytest.mark.parametrize("kind", ["char", "gpt2"])
def test_prepare_writes_ids_that_decode_back_to_the_text(tmp_path: Path, kind: str) -> None:
    source = write(tmp_path, SAMPLE)
    out = tmp_path / "data"
    result = prepare(source, out, tokenizer=kind, chunk_bytes=4096)
    assert sorted(p.name for p in out.iterdir()) == ["meta.json", "train.bin", "val.bin"]
    train, val = decoded_splits(out)
    assert train + val == SAMPLE
    # split at a line boundary, near the last 10% of the bytes
    assert train.endswith("\n") and result.split_at_line_boundary
    assert abs(len(val) - 0.1 * len(SAMPLE)) < 200
    meta = read_meta(out)
    assert set(meta) >= CONTRACT_META_KEYS
    assert meta["format"] == 1 and meta["dtype"] == "uint16"
    assert meta["train_tokens"] == result.train_tokens == len(token_memmap(out, "train"))
    assert meta["val_tokens"] == result.val_tokens == len(token_memmap(out, "val"))
    assert meta["characters"] == len(SAMPLE) and meta["bytes"] == len(SAMPLE)
    assert meta["lines"] == SAMPLE.count("\n") + 1  # the last line has no newline
    assert meta["source_sha256"] == hashlib.sha256(SAMPLE.encode()).hexdigest()
    assert result.to_dict()["out_dir"] == str(out)
    json.dumps(result.to_dict())


def test_char_vocabulary_is_the_sorted_characters_of_the_text(tmp_path: Path) -> None:
    out = tmp_path / "data"
    result = prepare(write(tmp_path, SAMPLE), out)
    chars = read_meta(out)["tokenizer"]["chars"]
    assert chars == sorted(set(SAMPLE))
    assert result.vocab_size == len(chars)
    ids = token_memmap(out, "train")
    assert ids[:5].tolist() == [chars.index(c) for c in SAMPLE[:5]]


def test_char_vocabulary_and_ids_over_chunks_of_every_width(tmp_path: Path) -> None:
    """Chunks that are ASCII, Latin-1, within U+FFFF and past it take different ways to
    their code points (bytes, UTF-16 units, UTF-32): the vocabulary and ids are the same."""
    lines = ["plain ascii line\n", "café crème\n", "日本語のテキスト\n", "emoji 👋🏽 here\n"]
    text = "".join(lines[i % 4] * (1 + i % 3) for i in range(60))
    out = tmp_path / "data"
    prepare(write(tmp_path, text), out, chunk_bytes=64)
    assert read_meta(out)["tokenizer"]["chars"] == sorted(set(text))
    assert "".join(decoded_splits(out)) == text


def test_gpt2_ids_are_those_of_each_split_encoded_whole(tmp_path: Path) -> None:
    text = SAMPLE + "  \n\n\n   indented\r\n\r\nnaïve 日本語 👋🏽  \n" * 50
    out = tmp_path / "data"
    prepare(write(tmp_path, text), out, tokenizer="gpt2", chunk_bytes=1000)
    train, val = decoded_splits(out)
    encoding = gpt2_encoding()
    assert token_memmap(out, "train").tolist() == encoding.encode_ordinary(train)
    assert token_memmap(out, "val").tolist() == encoding.encode_ordinary(val)


def test_a_vocabulary_over_65535_characters_uses_uint32(tmp_path: Path) -> None:
    code_points = [c for c in range(0x100, 0x100 + 70_000) if not 0xD800 <= c < 0xE000]
    chars = [chr(c) for c in code_points[:66_000]]
    text = "\n".join("".join(chars[i : i + 100]) for i in range(0, len(chars), 100)) + "\n"
    out = tmp_path / "data"
    result = prepare(write(tmp_path, text), out)
    assert result.vocab_size == 66_001  # with "\n"
    assert result.dtype == read_meta(out)["dtype"] == "uint32"
    assert token_memmap(out, "train").dtype == np.uint32
    assert token_memmap(out, "val").max() > 65_535
    assert "".join(decoded_splits(out)) == text


def test_crlf_is_kept_and_a_bom_is_stripped(tmp_path: Path) -> None:
    text = "line one\r\nline two\r\n" * 200
    source = write(tmp_path, b"\xef\xbb\xbf" + text.encode())
    out = tmp_path / "data"
    result = prepare(source, out, chunk_bytes=512)
    train, val = decoded_splits(out)
    assert train + val == text
    assert train.endswith("\r\n") and val.startswith("line")
    assert result.characters == len(text)
    assert result.bytes == len(text) + 3
    assert result.source_sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    assert "\ufeff" not in read_meta(out)["tokenizer"]["chars"]


def test_without_a_line_break_after_the_cut_the_split_is_mid_line(tmp_path: Path) -> None:
    text = "short first line\n" + "word " * 500
    out = tmp_path / "data"
    result = prepare(write(tmp_path, text), out)
    assert not result.split_at_line_boundary
    train, val = decoded_splits(out)
    assert train + val == text
    assert abs(len(val) - 0.1 * len(text.encode())) <= 1


def test_progress_reaches_the_total_and_never_goes_back(tmp_path: Path) -> None:
    source = write(tmp_path, SAMPLE)
    calls: list[tuple[int, int]] = []
    prepare(source, tmp_path / "data", progress=lambda d, t: calls.append((d, t)), chunk_bytes=8192)
    size = len(SAMPLE)
    assert calls[-1] == (size, size)
    assert all(total == size for _, total in calls)
    done = [d for d, _ in calls]
    assert done == sorted(done)
    assert len(calls) >= 2 * (size // 8192)  # at least once per chunk in each pass


def test_out_dir_gets_the_usual_permissions(tmp_path: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    out = tmp_path / "data"
    prepare(write(tmp_path, SAMPLE), out)
    assert out.stat().st_mode & 0o777 == 0o777 & ~umask  # not a temp dir's 0700


def test_an_existing_out_dir_gets_fresh_files(tmp_path: Path) -> None:
    out = tmp_path / "data"
    prepare(write(tmp_path, SAMPLE), out, tokenizer="gpt2")
    (out / "notes.txt").write_text("kept")
    prepare(write(tmp_path, SAMPLE[:5000], "small.txt"), out)
    assert read_meta(out)["tokenizer"]["kind"] == "char"
    assert "".join(decoded_splits(out)) == SAMPLE[:5000]
    assert (out / "notes.txt").read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "input.txt", "small.txt"]


BAD_INPUTS = {
    "not utf-8": (
        "line one\nline two\n" * 300 + "abc\ndéf\xff".encode("latin-1").decode("latin-1"),
        r"not UTF-8 text: invalid byte 0xe9 at byte offset 5405 \(line 602, column 2\)",
    ),
    # a NUL ends a document; one with no text before it ends none (documents are never
    # empty): what binary files look like
    "nul first": ("\x00hello\n", r"NUL byte at byte offset 0 \(line 1, column 1\) with no text"),
    "two nuls": ("hello\nwor\x00\x00ld\n", r"NUL byte at byte offset 10 \(line 2, column 5\)"),
    "empty": ("", "the file is empty"),
    "only a bom": ("\ufeff", "the file is empty"),
    "only whitespace": (" \n\t\n   \n", "only whitespace"),
    "too short": ("a", "too short: it gives 1 training and 0 validation tokens"),
    "too short for val": ("ab\nc", "too short"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_unusable_text_is_refused_and_leaves_nothing_behind(tmp_path: Path, case: str) -> None:
    text, message = BAD_INPUTS[case]
    data = text.encode("latin-1") if case == "not utf-8" else text.encode("utf-8")
    source = write(tmp_path, data)
    out = tmp_path / "nested" / "deeper" / "data"
    with pytest.raises(DataError, match=message) as caught:
        prepare(source, out, chunk_bytes=1024)
    assert caught.value.field == "file"
    assert list(tmp_path.iterdir()) == [source]  # no out_dir, no parents, no temp files


def test_an_existing_out_dir_survives_a_failed_prepare(tmp_path: Path) -> None:
    out = tmp_path / "data"
    prepare(write(tmp_path, SAMPLE), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(DataError):
        prepare(write(tmp_path, "x", "tiny.txt"), out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "input.txt", "tiny.txt"]


def test_bad_options_are_refused_before_any_work(tmp_path: Path) -> None:
    source = write(tmp_path, SAMPLE)
    for fraction in [0, 1, -0.1, 1.5, "0.1", True]:
        with pytest.raises(ConfigError) as caught:
            prepare(source, tmp_path / "data", val_fraction=fraction)  # type: ignore[arg-type]
        assert caught.value.field == "val_fraction"
    with pytest.raises(ConfigError) as caught:
        prepare(source, tmp_path / "data", tokenizer="llama")
    assert caught.value.field == "tokenizer"
    with pytest.raises(DataError, match="cannot read"):
        prepare(tmp_path / "missing.txt", tmp_path / "data")
    assert list(tmp_path.iterdir()) == [source]


def test_read_meta_and_token_memmap_refuse_missing_or_damaged_data(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"meta\.json is missing"):
        read_meta(tmp_path)
    (tmp_path / "meta.json").write_text("{not json")
    with pytest.raises(DataError, match="cannot read"):
        read_meta(tmp_path)
    out = tmp_path / "data"
    prepare(write(tmp_path, SAMPLE), out)
    train = token_memmap(out, "train")
    with pytest.raises(ValueError):
        train[0] = 1  # read-only
    with (out / "val.bin").open("ab") as f:
        f.write(b"\0")
    with pytest.raises(DataError, match="prepare the data again"):
        token_memmap(out, "val")


def test_inspect_text_describes_the_file(tmp_path: Path) -> None:
    text = SAMPLE + "naïve 日本語 👋🏽 <|endoftext|>"  # no newline at the end
    source = write(tmp_path, b"\xef\xbb\xbf" + text.encode())
    calls: list[tuple[int, int]] = []
    stats = inspect_text(
        source, preview_chars=50, progress=lambda d, t: calls.append((d, t)), chunk_bytes=2048
    )
    assert stats.bytes == source.stat().st_size
    assert stats.characters == len(text)
    assert stats.lines == text.count("\n") + 1
    assert stats.preview == text[:50]
    assert stats.vocab == sorted(set(text)) and stats.vocab_size == len(set(text))
    assert stats.gpt2_tokens == len(gpt2_encoding().encode_ordinary(text))
    assert stats.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    assert calls[-1] == (stats.bytes, stats.bytes)
    assert json.loads(json.dumps(stats.to_dict()))["vocab_size"] == stats.vocab_size


@pytest.mark.parametrize("case", ["not utf-8", "nul first", "two nuls", "empty", "only whitespace"])
def test_inspect_text_refuses_what_prepare_refuses(tmp_path: Path, case: str) -> None:
    text, message = BAD_INPUTS[case]
    data = text.encode("latin-1") if case == "not utf-8" else text.encode("utf-8")
    with pytest.raises(DataError, match=message):
        inspect_text(write(tmp_path, data), chunk_bytes=1024)


def test_an_invalid_byte_is_located_across_many_chunks(tmp_path: Path) -> None:
    line = "ab日本\n"  # 9 bytes, 5 characters
    data = (line * 1000).encode() + b"xyz" + b"\xc3\x28"
    with pytest.raises(DataError) as caught:
        inspect_text(write(tmp_path, data), chunk_bytes=100)
    assert "invalid byte 0xc3 at byte offset 9003 (line 1001, column 4)" in caught.value.message


def test_memory_stays_flat_as_the_file_grows(tmp_path: Path) -> None:
    """Peak RSS of a subprocess preparing 16 MB and 64 MB: the difference is noise."""
    script = (
        "import sys; from pathlib import Path\n"
        "from worker.engine.data.prepare import prepare\n"
        "prepare(sys.argv[1], sys.argv[2], tokenizer='char')\n"
        "status = Path('/proc/self/status').read_text().splitlines()\n"
        "print(next(int(l.split()[1]) for l in status if l.startswith('VmHWM:')))\n"
    )
    block = SHAKESPEARE.read_bytes()
    peaks = []
    for megabytes in (16, 64):
        source = tmp_path / f"{megabytes}.txt"
        source.write_bytes(block * (megabytes * 1_000_000 // len(block)))
        done = subprocess.run(
            [sys.executable, "-c", script, str(source), str(tmp_path / f"out{megabytes}")],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        peaks.append(int(done.stdout.split()[-1]) / 1024)
    assert peaks[1] - peaks[0] < 24, f"peak RSS grew from {peaks[0]:.0f} to {peaks[1]:.0f} MB"


def test_an_image_is_called_what_it_is_not_told_to_be_saved_as_utf8(tmp_path: Path) -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)
    with pytest.raises(DataError, match="not a text file: this is a PNG image") as caught:
        prepare(write(tmp_path, png), tmp_path / "data")
    assert "UTF-8" not in caught.value.message and caught.value.field == "file"
