"""prepare on a corpus of documents: an end-of-text token after each, validation by whole
documents (or the tail for a few), and meta.json's new fields, old meta.json included."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from worker.engine.data.prepare import prepare, read_meta, token_memmap
from worker.engine.tokenizers.gpt2 import gpt2_encoding
from worker.engine.tokenizers.load import Tokenizer, tokenizer_from_meta

SHAKESPEARE = Path("/work/shared/data/tinyshakespeare.txt")
TEXT = SHAKESPEARE.read_text(encoding="utf-8")[:40_000]
# Shakespeare's speeches as documents, and a few with what could go wrong at a boundary
DOCUMENTS = [d for d in TEXT.split("\n\n") if d.strip()] + [
    "naïve 日本語 👋🏽\r\n",
    "  leading spaces and a literal <|endoftext|> marker  ",
    "x",
]


def write_corpus(tmp_path: Path, documents: list[str], *, last_nul: bool = True) -> Path:
    text = "\0".join(documents) + ("\0" if last_nul else "")
    path = tmp_path / "corpus.txt"
    path.write_bytes(text.encode("utf-8"))
    return path


def split_documents(ids: np.ndarray, tokenizer: Tokenizer) -> list[str]:
    """The documents of a split: the text between end-of-text tokens, each ended by one."""
    ends = np.flatnonzero(ids == tokenizer.eot_id)
    assert ends.size and ends[-1] == ids.size - 1, "a split ends with an end-of-text token"
    pieces = np.split(ids, ends + 1)[:-1]
    return [tokenizer.decode(piece[:-1].tolist()) for piece in pieces]


@pytest.mark.parametrize("kind", ["char", "gpt2", "bpe-300"])
def test_every_document_is_whole_in_one_split_followed_by_the_eot(
    tmp_path: Path, kind: str
) -> None:
    out = tmp_path / "data"
    result = prepare(write_corpus(tmp_path, DOCUMENTS), out, tokenizer=kind, chunk_bytes=2048)
    meta = read_meta(out)
    tokenizer = tokenizer_from_meta(meta["tokenizer"])
    assert tokenizer.eot_id is not None and meta["eot_id"] == result.eot_id == tokenizer.eot_id
    train = split_documents(np.asarray(token_memmap(out, "train")), tokenizer)
    val = split_documents(np.asarray(token_memmap(out, "val")), tokenizer)
    assert sorted(train + val) == sorted(DOCUMENTS)  # each whole, in exactly one split
    in_val = set(val)
    assert [d for d in DOCUMENTS if d not in in_val] == train  # in order, too
    assert meta["split"] == result.split == "documents"
    assert (meta["documents"], meta["train_documents"], meta["val_documents"]) == (
        len(DOCUMENTS),
        len(train),
        len(val),
    )
    assert result.val_characters == sum(len(d) for d in val)
    assert result.train_characters == sum(len(d) for d in train)
    assert result.characters == sum(len(d) for d in DOCUMENTS)
    assert 0.05 < result.val_characters / result.characters < 0.2
    # spread over the corpus, not its tail
    positions = [DOCUMENTS.index(d) / len(DOCUMENTS) for d in val]
    assert min(positions) < 0.3 and max(positions) > 0.7


def test_gpt2_ids_are_each_documents_ordinary_ids_then_50256(tmp_path: Path) -> None:
    out = tmp_path / "data"
    prepare(write_corpus(tmp_path, DOCUMENTS), out, tokenizer="gpt2", chunk_bytes=1000)
    train = token_memmap(out, "train").tolist()
    val = token_memmap(out, "val").tolist()
    encoding = gpt2_encoding()
    train_docs = split_documents(np.asarray(train), tokenizer_from_meta({"kind": "gpt2"}))
    expected = [i for d in train_docs for i in [*encoding.encode_ordinary(d), 50256]]
    assert train == expected
    # the literal marker in a document stays text: 50256 only ends documents
    assert (train + val).count(50256) == len(DOCUMENTS)


def test_a_last_document_without_its_nul_is_ended_all_the_same(tmp_path: Path) -> None:
    out = tmp_path / "data"
    result = prepare(write_corpus(tmp_path, DOCUMENTS, last_nul=False), out, chunk_bytes=4096)
    tokenizer = tokenizer_from_meta(read_meta(out)["tokenizer"])
    train = split_documents(np.asarray(token_memmap(out, "train")), tokenizer)
    val = split_documents(np.asarray(token_memmap(out, "val")), tokenizer)
    assert sorted(train + val) == sorted(DOCUMENTS) and result.documents == len(DOCUMENTS)


def test_a_few_documents_split_at_the_tail(tmp_path: Path) -> None:
    documents = [TEXT[:15_000], TEXT[15_000:30_000], TEXT[30_000:]]
    out = tmp_path / "data"
    result = prepare(write_corpus(tmp_path, documents), out)
    assert result.split == "tail" and result.documents == 3
    tokenizer = tokenizer_from_meta(read_meta(out)["tokenizer"])
    assert tokenizer.chars[0] == "\0" and result.eot_id == 0  # type: ignore[attr-defined]
    train = tokenizer.decode(token_memmap(out, "train").tolist())
    val = tokenizer.decode(token_memmap(out, "val").tolist())
    assert train + val == "".join(d + "<|endoftext|>" for d in documents)
    # the last document is cut at a line start: it has text in both splits
    assert (result.train_documents, result.val_documents) == (3, 1)
    assert result.val_characters == len(val) - len("<|endoftext|>")
    assert result.train_characters + result.val_characters == len(TEXT)


def test_a_plain_text_file_prepares_as_before(tmp_path: Path) -> None:
    """nanoGPT parity: tiny Shakespeare keeps its 65 characters and no end-of-text token."""
    source = tmp_path / "input.txt"
    source.write_text(SHAKESPEARE.read_text(encoding="utf-8"), encoding="utf-8")
    result = prepare(source, tmp_path / "data")
    assert result.vocab_size == 65
    assert (result.documents, result.split, result.eot_id) == (1, "tail", None)
    assert (result.train_documents, result.val_documents) == (1, 1)
    assert (result.bpe_train_characters, result.bpe_encoder) == (None, None)
    assert tokenizer_from_meta(read_meta(tmp_path / "data")["tokenizer"]).eot_id is None


def test_read_meta_takes_meta_json_from_before_documents(tmp_path: Path) -> None:
    source = tmp_path / "input.txt"
    source.write_text(TEXT, encoding="utf-8")
    for kind in ("char", "bpe-300"):
        out = tmp_path / kind
        prepare(source, out, tokenizer=kind)
        path = out / "meta.json"
        meta = json.loads(path.read_text(encoding="utf-8"))
        for key in ("documents", "split", "train_documents", "val_documents", "eot_id"):
            del meta[key]
        del meta["bpe_train_characters"], meta["bpe_encoder"]
        path.write_text(json.dumps(meta), encoding="utf-8")
        again = read_meta(out)
        assert (again["documents"], again["split"], again["eot_id"]) == (1, "tail", None)
        assert (again["train_documents"], again["val_documents"]) == (1, 1)
        if kind == "char":
            assert (again["bpe_train_characters"], again["bpe_encoder"]) == (None, None)
        else:  # trained on all its training text and encoded by Hugging Face, back then
            assert again["bpe_encoder"] == "hf"
            assert again["bpe_train_characters"] == again["train_characters"]
