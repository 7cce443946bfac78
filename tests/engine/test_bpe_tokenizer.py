"""The BPE trained on the user's text: round trips, determinism, vocab_size, byte fallback,
UTF-8-safe streaming, prepare and the CLI with it, bits per character, training and
sampling on it, and its Hugging Face export."""

from __future__ import annotations

import hashlib
import json
import math
import random
import subprocess
import sys
from pathlib import Path

import pytest
from engine_helpers import shakespeare, tiny_config

from worker.cli import main
from worker.engine.checkpoints.export import export_checkpoint
from worker.engine.data.prepare import prepare, read_meta, token_memmap
from worker.engine.errors import ConfigError
from worker.engine.events import StepEvent, TrainCallbacks
from worker.engine.sampling.sample import SampleOptions, load_sampler
from worker.engine.tokenizers.bpe import PIECE_CHARS, TOKENIZER_FILE, BPETokenizer, train_bpe
from worker.engine.tokenizers.load import StreamDecoder, get_tokenizer, tokenizer_from_meta
from worker.engine.tokenizers.names import parse_tokenizer_name, tokenizer_name
from worker.engine.training.bits_per_char import bits_per_character, val_bits_per_character

REPO = Path(__file__).resolve().parents[2]
TEXT = shakespeare(60_000)
# CRLF, tabs, accents, CJK, emoji with modifiers and flags, a zero-width joiner, odd spaces
TRICKY = (
    "First Citizen:\r\nSpeak, speak.\r\n\r\n\tIt's 2024 -- we'll see.\n"
    "naïve café\u00a0x \u3000日本語のテキスト。\n 👋🏽 🇯🇵 👩‍👩‍👧 end   "
)


@pytest.fixture(scope="module")
def bpe() -> BPETokenizer:
    return train_bpe([TEXT], 400)


def random_utf8(rng: random.Random, length: int) -> str:
    """Code points from every plane (no surrogates, which UTF-8 cannot carry)."""
    ranges = [(0x20, 0x7E), (0x0A, 0x0D), (0xA0, 0x2FF), (0x4E00, 0x9FFF), (0x1F300, 0x1FAFF)]
    ranges += [(0xE000, 0xFFFD), (0x10000, 0x10FFFF)]
    out = []
    for _ in range(length):
        low, high = rng.choice(ranges)
        out.append(chr(rng.randint(low, high)))
    return "".join(out)


def test_round_trips_arbitrary_utf8(bpe: BPETokenizer) -> None:
    rng = random.Random(13)
    for text in [TRICKY, "", "\r\n", *(random_utf8(rng, 200) for _ in range(20))]:
        ids = bpe.encode(text)
        assert all(0 <= i < bpe.vocab_size for i in ids)
        assert bpe.decode(ids) == text
        assert bpe.encode_bulk(text).tolist() == ids


def test_a_character_outside_the_training_text_still_encodes(bpe: BPETokenizer) -> None:
    unseen = "😀 世界 ẞ"
    assert not set(unseen) - {" "} & set(TEXT)
    ids = bpe.encode(unseen)
    assert bpe.decode(ids) == unseen
    assert len(ids) == len(unseen.encode("utf-8"))  # no merges learnt for them: their bytes


def test_training_is_deterministic_whatever_the_chunking(tmp_path: Path) -> None:
    one = train_bpe([TEXT], 300).to_json()
    assert train_bpe([TEXT], 300).to_json() == one
    # prepare streams the training split in chunks cut where GPT-2's regex splits anyway
    source = tmp_path / "input.txt"
    source.write_text(TEXT, encoding="utf-8")
    prepare(source, tmp_path / "a", tokenizer="bpe", vocab_size=300, chunk_bytes=4096)
    prepare(source, tmp_path / "b", tokenizer="bpe", vocab_size=300)
    a, b = (read_meta(tmp_path / d)["tokenizer"]["tokenizer_json"] for d in "ab")
    assert a == b
    assert (
        token_memmap(tmp_path / "a", "val").tolist() == token_memmap(tmp_path / "b", "val").tolist()
    )
    # another process (Rust's hash maps seeded afresh) learns the same merges
    script = (
        "import sys, hashlib; from worker.engine.tokenizers.bpe import train_bpe;"
        "text = open(sys.argv[1], encoding='utf-8').read();"
        "print(hashlib.sha256(train_bpe([text], 300).to_json().encode()).hexdigest())"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(source)], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == hashlib.sha256(one.encode()).hexdigest()


def test_vocab_size_is_respected(tmp_path: Path) -> None:
    assert train_bpe([TEXT], 256).vocab_size == 256  # the bytes alone
    assert train_bpe([TEXT], 1000).vocab_size == 1000
    # a text with fewer pairs than asked for stops early: vocab_size is an upper bound
    assert 256 < train_bpe(["abcabc abd"], 4096).vocab_size < 270
    source = tmp_path / "input.txt"
    source.write_text(TEXT, encoding="utf-8")
    result = prepare(source, tmp_path / "d", tokenizer="bpe", vocab_size=512)
    meta = read_meta(tmp_path / "d")
    assert result.vocab_size == meta["vocab_size"] == meta["tokenizer"]["vocab_size"] == 512
    assert result.tokenizer_name == "bpe-512"
    assert int(token_memmap(tmp_path / "d", "train").max()) < 512
    for wrong in (255, 32769):
        with pytest.raises(ConfigError) as err:
            prepare(source, tmp_path / "x", tokenizer="bpe", vocab_size=wrong)
        assert err.value.field == "vocab_size" and "between 256 and 32768" in err.value.message
    with pytest.raises(ConfigError) as err:
        prepare(source, tmp_path / "x", tokenizer="char", vocab_size=512)
    assert err.value.field == "vocab_size"
    assert not (tmp_path / "x").exists()


def test_tokenizer_names() -> None:
    assert tokenizer_name("bpe") == "bpe-2048"
    assert tokenizer_name("gpt2") == "gpt2"
    assert parse_tokenizer_name("bpe-4096") == ("bpe", 4096)
    assert parse_tokenizer_name("char") == ("char", None)
    for bad in ("bpe", "bpe-04096", "bpe-99", "char-10", "sentencepiece"):
        with pytest.raises(ConfigError):
            parse_tokenizer_name(bad)
    with pytest.raises(ConfigError, match="trained on the text"):
        get_tokenizer("bpe")


def test_streamed_decoding_never_shows_half_a_character() -> None:
    bytes_only = train_bpe([TEXT], 256)  # every multibyte character spans several tokens
    text = "é世😀界\r\n👩‍👧"
    decoder = StreamDecoder(bytes_only)
    pieces = [decoder.feed(i) for i in bytes_only.encode(text)]
    assert "" in pieces  # a character was split across tokens ...
    assert "\ufffd" not in "".join(pieces)  # ... and never shown half-decoded
    assert "".join(pieces) + decoder.flush() == text


def test_bulk_encoding_in_pieces_equals_encoding_whole(bpe: BPETokenizer) -> None:
    text = shakespeare(3 * PIECE_CHARS) + TRICKY
    assert bpe.encode_bulk(text).tolist() == bpe.encode(text)


def test_prepare_writes_tokenizer_json_beside_the_token_files(tmp_path: Path) -> None:
    source = tmp_path / "input.txt"
    source.write_text(TEXT + TRICKY, encoding="utf-8")
    out = tmp_path / "data"
    result = prepare(source, out, tokenizer="bpe-300")
    assert sorted(p.name for p in out.iterdir()) == [
        "meta.json",
        TOKENIZER_FILE,
        "train.bin",
        "val.bin",
    ]
    on_disk = json.loads((out / "meta.json").read_text(encoding="utf-8"))
    assert on_disk["tokenizer"] == {"kind": "bpe", "vocab_size": 300, "file": TOKENIZER_FILE}
    tokenizer = tokenizer_from_meta(read_meta(out)["tokenizer"])
    train = tokenizer.decode(token_memmap(out, "train").tolist())
    val = tokenizer.decode(token_memmap(out, "val").tolist())
    assert train + val == TEXT + TRICKY
    assert (result.train_characters, result.val_characters) == (len(train), len(val))
    # the tokenizer was trained on the training split only: nothing of the val text in it
    assert tokenizer.to_json() == train_bpe([train], 300).to_json()


def test_cli_prepares_with_bpe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "input.txt"
    source.write_text(TEXT, encoding="utf-8")
    argv = ["prepare", str(source), "--tokenizer", "bpe", "--vocab_size", "320"]
    assert main([*argv, "--out", str(tmp_path / "d")]) == 0
    assert "vocabulary 320" in capsys.readouterr().out
    assert (
        main(
            [
                "prepare",
                str(source),
                "--tokenizer",
                "gpt2",
                "--vocab_size",
                "320",
                "--out",
                str(tmp_path / "e"),
            ]
        )
        == 2
    )
    assert "vocab_size: vocab_size is for the bpe tokenizer only" in capsys.readouterr().err


def test_bits_per_character_on_a_hand_checked_case() -> None:
    # 2 ln 2 nats per token is 2 bits per token; at one token per two characters, 1 bit each
    assert bits_per_character(2 * math.log(2), tokens=50, characters=100) == pytest.approx(1.0)
    meta = {"val_tokens": 30, "val_characters": 120}
    assert val_bits_per_character(math.log(2), meta) == pytest.approx(0.25)
    assert val_bits_per_character(1.0, {"val_tokens": 30}) is None  # data prepared before


class Steps(TrainCallbacks):
    def __init__(self) -> None:
        self.events: list[StepEvent] = []

    def on_step(self, event: StepEvent) -> None:
        self.events.append(event)


def test_a_bpe_run_trains_records_bpc_samples_and_exports(tmp_path: Path) -> None:
    from transformers import AutoTokenizer, GPT2LMHeadModel

    from worker.engine.training.loop import train

    source = tmp_path / "input.txt"
    source.write_text(shakespeare(30_000), encoding="utf-8")
    data = tmp_path / "data"
    prepare(source, data, tokenizer="bpe", vocab_size=300)
    meta = read_meta(data)
    steps = Steps()
    cfg = tiny_config(data, tmp_path / "run", max_iters=4, eval_interval=4, log_interval=2)
    train(cfg, steps)
    evaluated = [s for s in steps.events if s.evaluated]
    assert len(evaluated) == 2  # iteration 0 and the last
    for step in evaluated:
        assert step.val_loss is not None
        ratio = meta["val_tokens"] / meta["val_characters"]
        assert 0.3 < ratio < 0.9  # a BPE token is a few characters
        assert step.val_bpc == pytest.approx(step.val_loss * ratio / math.log(2))

    sampler = load_sampler(tmp_path / "run")
    assert sampler.tokenizer.kind == "bpe" and sampler.tokenizer.vocab_size == 300
    pieces = list(sampler.stream("ROMEO: 😀", SampleOptions(max_new_tokens=30, seed=1)))
    assert pieces and all(isinstance(p, str) for p in pieces)

    with pytest.raises(ConfigError, match="--format hf") as err:
        export_checkpoint(tmp_path / "run", "nanogpt", tmp_path / "nano")
    assert err.value.field == "format"
    names = export_checkpoint(tmp_path / "run", "hf", tmp_path / "hf")
    assert {p.name for p in names} >= {TOKENIZER_FILE, "config.json", "model.safetensors"}
    theirs = AutoTokenizer.from_pretrained(tmp_path / "hf")
    ours = sampler.tokenizer
    assert theirs(TRICKY)["input_ids"] == ours.encode(TRICKY)
    assert theirs.decode(ours.encode(TRICKY)) == TRICKY
    model = GPT2LMHeadModel.from_pretrained(tmp_path / "hf")
    assert model.config.vocab_size == 300
