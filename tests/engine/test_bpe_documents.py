"""A trained BPE in a corpus of documents: its end-of-text token, tiktoken's ids against
Hugging Face's on real text, the check that picks between them, and the bounded sample it
is trained on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from engine_helpers import shakespeare

from worker.cli import main
from worker.engine.data.bpe_sample import Stretches
from worker.engine.data.prepare import prepare, read_meta, token_memmap
from worker.engine.errors import ConfigError, DataError
from worker.engine.tokenizers.bpe import BPETokenizer, train_bpe
from worker.engine.tokenizers.load import StreamDecoder
from worker.engine.tokenizers.tiktoken_bulk import split_for_bpe

# Accents, CJK, emoji with modifiers and joiners, flags, and odd whitespace: no-break,
# ideographic, vertical tab, form feed, line and paragraph separators, NEL, CRLF, tabs.
TRICKY = (
    "naïve café\u00a0x \u3000日本語のテキスト。\n 👋🏽 🇯🇵 👩\u200d👩\u200d👧 end   \r\n\r\n"
    "\tIt's 2024 -- we'll see 12 345 .\x0b\x0cv\u2028w\u2029x\x85y  \n\n   \t\n  Ünïcödé ẞ"
)


def machine_documents() -> list[str]:
    """Real text found on this machine: licences, Python's own sources, Shakespeare."""
    licences = sorted({p.resolve() for p in Path("/usr/share/common-licenses").iterdir()})
    sources = sorted(Path("/usr/lib/python3.11").glob("*.py"))[:60]
    documents = [p.read_text(encoding="utf-8", errors="replace") for p in licences + sources]
    documents += [shakespeare(200_000), TRICKY]
    return [d.replace("\0", "") for d in documents if d.strip()]


@pytest.fixture(scope="module")
def documents() -> list[str]:
    return machine_documents()


@pytest.mark.parametrize(("vocab_size", "end_of_text"), [(257, True), (300, False),
                                                         (1024, True), (4096, True)])  # fmt: skip
@pytest.mark.slow
def test_tiktoken_gives_hugging_faces_ids_on_real_text(
    documents: list[str], vocab_size: int, end_of_text: bool
) -> None:
    bpe = train_bpe(documents[::2], vocab_size, end_of_text=end_of_text)  # half: unseen text
    corpus = "\0".join(documents) + "\0" if end_of_text else "".join(documents)
    hf = bpe.encode_bulk(corpus)
    bpe.use_bulk_encoder("tiktoken")
    fast = bpe.encode_bulk(corpus)
    assert fast.dtype == hf.dtype == np.uint16
    assert np.array_equal(fast, hf)
    assert bpe.bulk_encoders_agree(documents)
    if end_of_text:
        assert int((fast == bpe.eot_id).sum()) == len(documents)
    # and both are the tokenizer's own encode, document by document
    for document in documents[-3:]:
        assert bpe.encode_bulk(document).tolist() == bpe.encode(document)


def test_the_end_of_text_token_is_the_last_id_and_never_trained_on() -> None:
    texts = [shakespeare(20_000), "a literal <|endoftext|> stays text"]
    bpe = train_bpe(texts, 300, end_of_text=True)
    assert bpe.vocab_size == 300 and bpe.eot_id == 299 == bpe.start_id
    assert bpe.decode([bpe.eot_id]) == "<|endoftext|>"
    assert bpe.encode("Hi<|endoftext|>") == [*bpe.encode("Hi"), 299]  # a prompt's marker
    for name in ("hf", "tiktoken"):
        bpe.use_bulk_encoder(name)  # type: ignore[arg-type]
        ids = bpe.encode_bulk("one\0a <|endoftext|> b\0").tolist()
        assert ids.count(299) == 2 and ids[-1] == 299  # only the NULs
        assert bpe.decode(ids) == "one<|endoftext|>a <|endoftext|> b<|endoftext|>"
    decoder = StreamDecoder(bpe)
    assert "".join(decoder.feed(i) for i in bpe.encode("é<|endoftext|>")) == "é<|endoftext|>"
    # without documents there is no special token: every id is text
    plain = train_bpe(texts, 300)
    assert plain.eot_id is None and plain.vocab_size == 300
    assert plain.decode(plain.encode("<|endoftext|>")) == "<|endoftext|>"
    with pytest.raises(ValueError, match="NUL"):
        train_bpe(["a\0b"], 300)
    with pytest.raises(ValueError, match="257"):
        train_bpe(texts, 256, end_of_text=True)  # the 256 bytes leave it no room


def test_a_corpus_about_tokenizers_keeps_its_literal_marker_as_text() -> None:
    code = 'enc.encode(text, allowed_special={"<|endoftext|>"})  # <|endoftext|><|endoftext|>\n'
    bpe = train_bpe([code * 200] * 5, 400, end_of_text=True)
    assert bpe.eot_id == bpe.vocab_size - 1
    spelled = [i for i in range(bpe.vocab_size) if bpe.token_bytes(i) == b"<|endoftext|>"]
    assert spelled == [bpe.eot_id]  # GPT-2's regex cuts the marker: never one learnt token
    for name in ("hf", "tiktoken"):
        bpe.use_bulk_encoder(name)  # type: ignore[arg-type]
        ids = bpe.encode_bulk(code + "\0").tolist()
        assert ids.count(bpe.eot_id) == 1 and bpe.decode(ids) == code + "<|endoftext|>"


def test_the_special_token_is_left_out_of_the_byte_level_checks() -> None:
    """A tokenizer.json whose learnt vocabulary spells the marker (as a hand-made one may):
    Hugging Face gives the special token that id, and the checks, which would otherwise find
    a second token of those bytes or a token that is not text, leave it out."""
    data = json.loads(train_bpe([shakespeare(5_000)], 257, end_of_text=True).to_json())
    data["model"]["vocab"]["<|endoftext|>"] = 256
    bpe = BPETokenizer.from_json(json.dumps(data))
    assert (bpe.vocab_size, bpe.eot_id) == (257, 256)
    assert bpe.decode([256]) == "<|endoftext|>"
    bpe.use_bulk_encoder("tiktoken")  # its ranks leave the special out; "\0" is its text
    assert bpe.encode_bulk("x\0").tolist() == [*bpe.encode("x"), 256]
    data["added_tokens"].append({**data["added_tokens"][0], "id": 257, "content": "<pad>"})
    with pytest.raises(DataError, match="added tokens"):
        BPETokenizer.from_json(json.dumps(data))


def test_the_check_catches_a_vocabulary_where_tiktoken_differs() -> None:
    """Hugging Face merges by the pair's rank, tiktoken by the merged bytes' rank: with
    "bc" merged before "ab" and "abc" made from "ab" + "c", HF stops at "a" + "bc" on "abc"
    while tiktoken finds "abc" (a rank) and takes it."""
    data = json.loads(train_bpe([shakespeare(5_000)], 256).to_json())
    vocab = data["model"]["vocab"]
    for token, rank in (("bc", 256), ("ab", 257), ("abc", 258)):
        vocab[token] = rank
    data["model"]["merges"] = [["b", "c"], ["a", "b"], ["ab", "c"]]
    bpe = BPETokenizer.from_json(json.dumps(data))
    assert bpe.encode("abc") == [vocab["a"], 256]
    assert not bpe.bulk_encoders_agree(["xyz", "abc"])
    assert bpe.bulk_encoders_agree(["xyz", "bca"])


def test_stretches_are_spread_bounded_and_cut_between_words() -> None:
    text = shakespeare(200_000)
    pieces = split_for_bpe(text, 7_000)  # handed over as a stream of texts
    sample = Stretches(len(text), 20_000)
    kept = [part for piece in pieces for part in sample.take(piece)]
    assert 18_000 < sample.taken == sum(map(len, kept)) <= 20_000
    # a stretch per 4,096 characters of the bound: 4 of 5,000, at the start of each 50,000
    # (one may come in two parts, across two of the texts handed over)
    windows = set()
    for part in kept:
        at = text.index(part)
        windows.add(at // 50_000)
        assert at % 50_000 + len(part) <= 5_000
    assert windows == {0, 1, 2, 3}
    for part in kept:  # whole words: a stretch starts before whitespace, ends after a word
        at = text.index(part)
        assert at == 0 or (not text[at - 1].isspace() and part[0].isspace())
        assert not part[-1].isspace() and text[at + len(part)].isspace()
    everything = Stretches(len(text), len(text))
    assert [everything.take(p) for p in pieces] == [[p] for p in pieces]


def test_a_bpe_is_trained_on_a_bounded_sample_of_the_training_documents(tmp_path: Path) -> None:
    documents = [d for d in shakespeare(60_000).split("\n\n") if d.strip()]
    source = tmp_path / "corpus.txt"
    source.write_text("".join(d + "\0" for d in documents), encoding="utf-8")
    whole = prepare(source, tmp_path / "whole", tokenizer="bpe-300")
    assert whole.bpe_train_characters == whole.train_characters
    assert whole.bpe_encoder == "tiktoken" == read_meta(tmp_path / "whole")["bpe_encoder"]
    # at the bound or above: exactly all the training documents, as before the bound
    at_bound = whole.train_characters
    same = prepare(source, tmp_path / "same", tokenizer="bpe-300", bpe_train_chars=at_bound)
    tokenizers = [read_meta(tmp_path / d)["tokenizer"]["tokenizer_json"] for d in ("whole", "same")]
    assert tokenizers[0] == tokenizers[1] and same.bpe_train_characters == at_bound
    bounded = prepare(source, tmp_path / "bounded", tokenizer="bpe-300", bpe_train_chars=10_000)
    assert 9_000 < bounded.bpe_train_characters <= 10_000
    assert read_meta(tmp_path / "bounded")["bpe_train_characters"] == bounded.bpe_train_characters
    assert read_meta(tmp_path / "bounded")["tokenizer"]["tokenizer_json"] != tokenizers[0]
    assert bounded.train_tokens == len(token_memmap(tmp_path / "bounded", "train"))


def test_bpe_options_for_documents_are_checked(tmp_path: Path) -> None:
    source = tmp_path / "corpus.txt"
    source.write_text("one document\0another\0", encoding="utf-8")
    with pytest.raises(ConfigError, match="257 or more") as caught:
        prepare(source, tmp_path / "d", tokenizer="bpe-256")
    assert caught.value.field == "vocab_size"
    for wrong in (0, -5, 1.5, True):
        with pytest.raises(ConfigError) as caught:
            prepare(source, tmp_path / "d", tokenizer="bpe", bpe_train_chars=wrong)  # type: ignore[arg-type]
        assert caught.value.field == "bpe_train_chars"
    with pytest.raises(ConfigError, match="bpe tokenizer only") as caught:
        prepare(source, tmp_path / "d", tokenizer="char", bpe_train_chars=1000)
    assert not (tmp_path / "d").exists()


def test_cli_takes_bpe_train_chars(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    documents = [d for d in shakespeare(30_000).split("\n\n") if d.strip()]
    source = tmp_path / "corpus.jsonl"  # a document a record
    source.write_text("".join(json.dumps({"text": d}) + "\n" for d in documents))
    argv = ["prepare", str(source), "--tokenizer", "bpe", "--vocab_size", "300"]
    assert main([*argv, "--bpe_train_chars", "5000", "--out", str(tmp_path / "d")]) == 0
    assert f"{len(documents):,} documents (val: documents)" in capsys.readouterr().out
    assert read_meta(tmp_path / "d")["bpe_train_characters"] <= 5000
    gpt2 = ["prepare", str(source), "--tokenizer", "gpt2", "--bpe_train_chars", "5000"]
    assert main([*gpt2, "--out", str(tmp_path / "e")]) == 2
    assert "bpe_train_chars: bpe_train_chars is for the bpe tokenizer only" in (
        capsys.readouterr().err
    )
