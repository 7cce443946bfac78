"""A corpus file's documents: NUL as their boundary in textscan and inspect_text, their
lengths chunk by chunk, and the error-diffusion choice of validation documents."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from worker.engine.data.doc_split import DocumentSplit
from worker.engine.data.documents import DocumentLengths, document_ends
from worker.engine.data.textscan import iter_text_chunks
from worker.engine.data.textstats import PREVIEW_DOCUMENTS, inspect_text
from worker.engine.errors import DataError
from worker.engine.tokenizers.gpt2 import gpt2_encoding

SHAKESPEARE = Path("/work/shared/data/tinyshakespeare.txt")
# Non-ASCII in every width of UTF-8, CRLF, a document of whitespace, a literal marker.
DOCUMENTS = [
    "First Citizen:\nBefore we proceed any further, hear me speak.\n",
    "naïve café — 日本語のテキスト 👋🏽\r\nend",
    " \n\t",
    "a <|endoftext|> inside the text is text\n\n",
    "x",
]


def corpus(documents: list[str]) -> str:
    return "".join(d + "\0" for d in documents)


def write(tmp_path: Path, text: str, name: str = "corpus.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def test_inspect_text_counts_documents_and_leaves_the_nul_out(tmp_path: Path) -> None:
    stats = inspect_text(write(tmp_path, corpus(DOCUMENTS)), chunk_bytes=16)
    text = "".join(DOCUMENTS)
    assert stats.documents == len(DOCUMENTS)
    assert stats.characters == len(text)
    assert stats.vocab == sorted(set(text)) and "\0" not in stats.vocab
    # lines per document: "x" and "... end" end without a newline, " \n\t" too
    assert stats.lines == sum(d.count("\n") + (not d.endswith("\n")) for d in DOCUMENTS)
    encoding = gpt2_encoding()
    assert stats.gpt2_tokens == sum(len(encoding.encode_ordinary(d)) + 1 for d in DOCUMENTS)
    assert stats.preview_documents == DOCUMENTS
    assert stats.preview == "<|endoftext|>".join(DOCUMENTS)


def test_text_after_the_last_nul_is_a_last_document(tmp_path: Path) -> None:
    stats = inspect_text(write(tmp_path, "one\0two\0three"))
    assert stats.documents == 3 and stats.characters == 11 and stats.lines == 3
    assert stats.gpt2_tokens == 3 + 3  # prepare ends "three" with its end-of-text token too
    assert stats.preview_documents == ["one", "two", "three"]


def test_a_plain_text_file_is_one_document(tmp_path: Path) -> None:
    text = SHAKESPEARE.read_text(encoding="utf-8")[:5000]
    stats = inspect_text(write(tmp_path, text), preview_chars=300)
    assert stats.documents == 1
    assert stats.doc_lengths == [{"min": 4096, "max": 8191, "count": 1}]
    assert stats.preview_documents == [text[:300]] and stats.preview == text[:300]
    assert stats.gpt2_tokens == len(gpt2_encoding().encode_ordinary(text))


def test_document_lengths_histogram_keeps_empty_buckets_between(tmp_path: Path) -> None:
    documents = ["ab", "abc", "x" * 20, "y" * 17, "z" * 64]
    stats = inspect_text(write(tmp_path, corpus(documents)))
    assert stats.doc_lengths == [
        {"min": 2, "max": 3, "count": 2},
        {"min": 4, "max": 7, "count": 0},
        {"min": 8, "max": 15, "count": 0},
        {"min": 16, "max": 31, "count": 2},
        {"min": 32, "max": 63, "count": 0},
        {"min": 64, "max": 127, "count": 1},
    ]


def test_preview_is_at_most_20_documents_and_the_characters_asked(tmp_path: Path) -> None:
    many = [f"document {i}" for i in range(30)]
    stats = inspect_text(write(tmp_path, corpus(many)))
    assert stats.preview_documents == many[:PREVIEW_DOCUMENTS] == many[:20]
    long = ["a" * 300, "b" * 500, "c" * 400, "d" * 10]
    stats = inspect_text(write(tmp_path, corpus(long), "long.txt"), preview_chars=1000)
    assert stats.preview_documents == ["a" * 300, "b" * 500, "c" * 200]  # the last one cut


def test_a_corpus_of_whitespace_documents_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="only whitespace"):
        inspect_text(write(tmp_path, corpus([" ", "\n\n", "\t"])))


@pytest.mark.parametrize(
    ("text", "offset"),
    [("\0abc", 0), ("abc\0\0def\0", 4), ("\ufeff\0abc", 3), ("ab\0\0", 3)],
)
def test_a_nul_with_no_text_before_it_is_refused_where_it_is(
    tmp_path: Path, text: str, offset: int
) -> None:
    for chunk_bytes in (2, 3, 1024):  # the pair of NULs across a chunk boundary too
        with pytest.raises(DataError, match=f"NUL byte at byte offset {offset} ") as caught:
            list(iter_text_chunks(write(tmp_path, text), chunk_bytes=chunk_bytes))
        assert caught.value.field == "file" and "empty" not in caught.value.message


def random_documents(rng: random.Random, count: int) -> list[str]:
    alphabet = "ab \nçé日本👋🏽\r\t"
    return ["".join(rng.choices(alphabet, k=rng.randint(1, 300))) for _ in range(count)]


@pytest.mark.parametrize("chunk_bytes", [7, 64, 1 << 20])
def test_document_lengths_are_exact_across_chunks(tmp_path: Path, chunk_bytes: int) -> None:
    documents = random_documents(random.Random(chunk_bytes), 200)
    path = write(tmp_path, corpus(documents[:-1]) + documents[-1])  # the last without NUL
    lengths = DocumentLengths()
    found: list[int] = []
    for chunk in iter_text_chunks(path, chunk_bytes=chunk_bytes):
        ends = document_ends(chunk)
        assert ends.tolist() == [i for i, c in enumerate(chunk.text) if c == "\0"]
        found += lengths.add(chunk).tolist()
    found += lengths.finish().tolist()
    assert found == [len(d) for d in documents]
    assert lengths.count == len(documents) and lengths.unterminated


def test_validation_documents_are_spread_and_not_the_short_ones() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 2000, 3000)
    split = DocumentSplit(0.1)
    for part in np.array_split(lengths, 7):  # in pieces, as chunks come
        split.add(part)
    in_val = split.in_val(0, lengths.size)
    assert split.usable()
    assert split.documents == {"val": int(in_val.sum()), "train": int((~in_val).sum())}
    assert split.characters["val"] == int(lengths[in_val].sum())
    assert abs(split.characters["val"] / lengths.sum() - 0.1) < 0.002
    # spread: every tenth of the corpus has about a tenth of val
    for tenth in np.array_split(in_val, 10):
        assert 0.06 < tenth.mean() < 0.14
    # the choice never looks at a document's own length: val's are as long as train's
    assert abs(lengths[in_val].mean() / lengths[~in_val].mean() - 1) < 0.1
    again = DocumentSplit(0.1)
    again.add(lengths)
    assert np.array_equal(again.in_val(0, lengths.size), in_val)  # deterministic


def test_a_split_by_documents_needs_enough_of_them_and_a_sane_share() -> None:
    few = DocumentSplit(0.1)
    few.add(np.full(9, 100))
    assert not few.usable()  # fewer than 10 documents
    lopsided = DocumentSplit(0.1)
    lopsided.add(np.array([10] * 11 + [10_000] + [10] * 30))
    assert lopsided.in_val(11, 1)[0]  # the giant came when val was behind: val is 96%
    assert not lopsided.usable()
    tiny_val = DocumentSplit(0.1)
    tiny_val.add(np.array([10] * 9 + [10_000] + [10] * 30))
    assert not tiny_val.in_val(9, 1)[0]  # val is 3% of the text: under half of 10%
    assert not tiny_val.usable()
    even = DocumentSplit(0.1)
    even.add(np.full(10, 100))
    assert even.usable() and even.documents == {"train": 9, "val": 1}
