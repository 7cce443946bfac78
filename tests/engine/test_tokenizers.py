"""Tokenizers: GPT-2 BPE built offline, char vocabularies, UTF-8-safe streaming."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tiktoken
import tiktoken.registry
from tiktoken.load import load_tiktoken_bpe

from worker.engine.errors import ConfigError, DataError
from worker.engine.tokenizers.gpt2 import (
    END_OF_TEXT_ID,
    GPT2Tokenizer,
    gpt2_encoding,
    parse_ranks,
    ranks_bytes,
    split_for_bpe,
)
from worker.engine.tokenizers.load import (
    CharTokenizer,
    StreamDecoder,
    get_tokenizer,
    tokenizer_from_meta,
)

REPO = Path(__file__).resolve().parents[2]
ASSET = REPO / "worker" / "engine" / "assets" / "gpt2.tiktoken"
SHAKESPEARE = Path("/work/shared/data/tinyshakespeare.txt")
# Whitespace runs, CRLF, contractions, digits, non-Latin scripts, non-ASCII spaces, emoji:
# the places where cutting text carelessly would change GPT-2's ids.
TRICKY = (
    "First Citizen:\nBefore we proceed any further, hear me speak.  \n\n\n  All:\n"
    "Speak, speak.\r\n\r\n\tIt's 2024 -- we'll see 12 345 .\n\x1c\n"
    "naïve café\u00a0x \u3000日本語のテキスト。\n   \n 👋🏽 🇯🇵 <|endoftext|> end   "
)


def test_gpt2_encodes_hello_world_as_gpt2_does() -> None:
    gpt2 = get_tokenizer("gpt2")
    assert gpt2.encode("Hello world") == [15496, 995]
    assert gpt2.vocab_size == 50257
    assert gpt2.start_id == END_OF_TEXT_ID == 50256
    assert gpt2.decode([15496, 995]) == "Hello world"


def test_gpt2_is_built_from_the_packaged_ranks_not_tiktokens_registry() -> None:
    encoding = GPT2Tokenizer()._encoding
    assert encoding is gpt2_encoding()
    assert encoding.n_vocab == 50257
    # get_encoding("gpt2") (which downloads) was never called in this process
    assert "gpt2" not in tiktoken.registry.ENCODINGS


def test_packaged_ranks_equal_tiktokens_own_loader(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")  # no copy into a cache directory
    assert parse_ranks(ranks_bytes()) == load_tiktoken_bpe(str(ASSET))


def test_gpt2_works_with_no_network_and_an_empty_tiktoken_cache(tmp_path: Path) -> None:
    script = (
        "from worker.engine.tokenizers.load import get_tokenizer;"
        "print(get_tokenizer('gpt2').encode('Hello world'))"
    )
    env = {
        **os.environ,
        "TIKTOKEN_CACHE_DIR": str(tmp_path),
        "HTTPS_PROXY": "http://127.0.0.1:9",  # any download attempt would fail
        "HTTP_PROXY": "http://127.0.0.1:9",
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "[15496, 995]"
    assert list(tmp_path.iterdir()) == []


def test_gpt2_prompt_may_hold_the_end_of_text_token() -> None:
    gpt2 = get_tokenizer("gpt2")
    assert gpt2.encode("<|endoftext|>Hi") == [50256, 17250]


def test_gpt2_bulk_encoding_treats_end_of_text_as_plain_text() -> None:
    gpt2 = get_tokenizer("gpt2")
    ids = gpt2.encode_bulk("a<|endoftext|>b").tolist()
    assert 50256 not in ids
    assert gpt2.decode(ids) == "a<|endoftext|>b"


def test_gpt2_ends_each_document_with_50256_in_training_text_only() -> None:
    gpt2 = get_tokenizer("gpt2")
    assert gpt2.eot_id == 50256
    ordinary = gpt2_encoding().encode_ordinary
    ids = gpt2.encode_bulk("one doc \0 two\0").tolist()
    assert ids == [*ordinary("one doc "), 50256, *ordinary(" two"), 50256]
    assert gpt2.decode(ids) == "one doc <|endoftext|> two<|endoftext|>"
    assert gpt2.encode("\0") == ordinary("\0") != [50256]  # in a prompt, NUL is a byte


@pytest.mark.parametrize("piece_chars", [1, 3, 7, 40])
def test_bpe_pieces_encode_to_exactly_the_whole_texts_ids(piece_chars: int) -> None:
    encoding = gpt2_encoding()
    pieces = split_for_bpe(TRICKY, piece_chars)
    assert len(pieces) > 3
    assert "".join(pieces) == TRICKY
    joined = [i for piece in pieces for i in encoding.encode_ordinary(piece)]
    assert joined == encoding.encode_ordinary(TRICKY)


def test_gpt2_bulk_encoding_matches_encode_ordinary_on_a_real_corpus() -> None:
    text = SHAKESPEARE.read_text(encoding="utf-8")[:400_000] + TRICKY
    gpt2 = get_tokenizer("gpt2")
    assert gpt2.encode_bulk(text).tolist() == gpt2_encoding().encode_ordinary(text)


def chars_of(text: str) -> CharTokenizer:
    """The char tokenizer of a text's characters, sorted as prepare writes them."""
    return CharTokenizer(sorted(set(text)))


def test_char_vocabulary_round_trips_through_json() -> None:
    char = chars_of("hello, world\n")
    assert char.chars == ("\n", " ", ",", "d", "e", "h", "l", "o", "r", "w")
    assert char.vocab_size == 10
    meta = json.loads(json.dumps(char.to_meta()))
    assert meta == {"kind": "char", "chars": ["\n", " ", ",", "d", "e", "h", "l", "o", "r", "w"]}
    again = tokenizer_from_meta(meta)
    assert again.encode("hello") == char.encode("hello") == [5, 4, 6, 6, 7]
    assert again.decode([5, 4, 6, 6, 7]) == "hello"


def test_char_start_id_is_newline_if_present_else_zero() -> None:
    assert chars_of("ab\ncd").start_id == 0
    assert chars_of("b a").start_id == 0
    assert CharTokenizer(["x", "\n"]).start_id == 1


def test_a_char_vocabulary_with_nul_has_it_as_its_end_of_text_token() -> None:
    char = chars_of("ba\0c")
    assert char.chars == ("\0", "a", "b", "c") and char.eot_id == 0 == char.start_id
    assert char.encode_bulk("a\0b").tolist() == [1, 0, 2]
    assert char.decode([1, 0, 2]) == "a<|endoftext|>b"
    assert char.encode("a<|endoftext|>b<|endoftext|>") == [1, 0, 2, 0]  # the marker
    assert char.encode("a\0") == [1, 0]  # a literal NUL is that same character
    decoder = StreamDecoder(char)
    assert [decoder.feed(i) for i in [3, 0]] == ["c", "<|endoftext|>"]
    # one document: no NUL, no end-of-text token; the marker is text, a NUL unknown
    plain = chars_of("<|endoftext|>\n")
    assert plain.eot_id is None and plain.start_id == plain.chars.index("\n")
    assert plain.decode(plain.encode("<|endoftext|>")) == "<|endoftext|>"
    with pytest.raises(DataError) as caught:
        plain.encode("\0")
    assert caught.value.message == "characters not in this model's vocabulary: '\\x00'"


def test_unknown_prompt_characters_are_named_once_each() -> None:
    char = chars_of("hello world")
    with pytest.raises(DataError) as caught:
        char.encode("héllo\tw\té")
    assert caught.value.field == "prompt"
    assert caught.value.message == "characters not in this model's vocabulary: 'é', '\\t'"


def test_char_bulk_encoding_matches_encode_for_any_script() -> None:
    text = "naïve 日本語 👋🏽\n" * 3
    char = chars_of(text)
    assert char.encode_bulk(text).tolist() == char.encode(text)
    assert char.encode_bulk("e a").tolist() == char.encode("e a")  # the byte-table path
    assert char.encode_bulk("naïve").tolist() == char.encode("naïve")  # Latin-1 too
    with pytest.raises(DataError, match="'z'"):
        char.encode_bulk("z")
    with pytest.raises(DataError, match="'😀'"):  # beyond the lookup table's end
        char.encode_bulk("😀")


def test_decoding_an_id_outside_the_vocabulary_is_an_error() -> None:
    char = chars_of("ab")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        char.decode([2])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        char.decode([-1])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        get_tokenizer("gpt2").decode([50257])


def test_unknown_kinds_and_bad_metadata_are_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        get_tokenizer("sentencepiece")
    assert caught.value.field == "tokenizer"
    with pytest.raises(ConfigError):
        get_tokenizer("char")  # needs its characters
    for meta in [{}, {"kind": "bpe"}, {"kind": "char"}, {"kind": "char", "chars": ["ab"]}]:
        with pytest.raises(DataError):
            tokenizer_from_meta(meta)
    assert tokenizer_from_meta({"kind": "gpt2"}).vocab_size == 50257


def test_stream_decoder_never_yields_half_a_character() -> None:
    text = "Hello 👋🏽 世界! 日本語のテキスト — naïve café 🎉🇯🇵 ok"
    gpt2 = get_tokenizer("gpt2")
    ids = gpt2.encode(text)
    # the test means something only if some token holds part of a character
    assert any(_is_partial_utf8(gpt2.decode_bytes([i])) for i in ids)
    decoder = StreamDecoder(gpt2)
    pieces = [decoder.feed(i) for i in ids]
    pieces.append(decoder.flush())
    assert all("\ufffd" not in piece for piece in pieces)
    assert "".join(pieces) == gpt2.decode(ids) == text


def test_stream_decoder_flushes_an_unfinished_character_as_a_replacement() -> None:
    gpt2 = get_tokenizer("gpt2")
    partial = next(i for i in gpt2.encode("👋🏽") if _is_partial_utf8(gpt2.decode_bytes([i])))
    decoder = StreamDecoder(gpt2)
    assert decoder.feed(partial) == ""
    assert decoder.flush() == "\ufffd"


def test_stream_decoder_passes_char_level_text_through() -> None:
    char = chars_of("日本 ok")
    decoder = StreamDecoder(char)
    assert [decoder.feed(i) for i in char.encode("ok 日本")] == ["o", "k", " ", "日", "本"]
    assert decoder.flush() == ""


def _is_partial_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False
