"""Completions as OpenAI's /v1/completions gives them: n choices of a prompt, stop strings,
the top-k log-probabilities of each token, and the prompt echoed. The choices of one or of
many completions are generated together, one batch per step, in `together.py`.

A choice's text is given out in pieces, token by token, but never the start of a stop
string: text that could still become one waits until it cannot (or is cut there).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch.nn import functional as F

from worker.engine.errors import ConfigError
from worker.engine.sampling.sample import Sampler
from worker.engine.tokenizers.load import StreamDecoder, Tokenizer

MAX_LOGPROBS = 5  # OpenAI's limit on the alternatives per token
FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class CompletionRequest:
    prompt: str
    max_tokens: int = 16
    temperature: float = 1.0  # 0 is greedy
    top_p: float | None = None
    n: int = 1
    seed: int = 0  # choice i draws with seed + i
    stop: tuple[str, ...] = ()
    logprobs: int | None = None  # the top-k alternatives per token (0 to 5), or none at all
    echo: bool = False

    def check(self) -> None:
        if self.max_tokens < 0:
            raise ConfigError("max_tokens must not be negative", field="max_tokens")
        if self.n < 1:
            raise ConfigError("n must be at least 1", field="n")
        if self.logprobs is not None and not 0 <= self.logprobs <= MAX_LOGPROBS:
            raise ConfigError(f"logprobs must be 0 to {MAX_LOGPROBS}", field="logprobs")
        if self.temperature < 0:
            raise ConfigError("temperature must not be negative (0 is greedy)", field="temperature")
        if any(not s for s in self.stop):
            raise ConfigError("a stop string must not be empty", field="stop")


@dataclass
class Logprobs:
    """OpenAI's `logprobs` of a piece of a choice: one entry per token."""

    tokens: list[str] = field(default_factory=list)
    token_logprobs: list[float | None] = field(default_factory=list)
    top_logprobs: list[dict[str, float] | None] = field(default_factory=list)
    text_offset: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "tokens": self.tokens,
            "token_logprobs": self.token_logprobs,
            "top_logprobs": self.top_logprobs,
            "text_offset": self.text_offset,
        }


@dataclass
class Piece:
    """The next text of choice `index`; the last piece of a choice carries its finish reason
    and how many tokens it generated."""

    index: int
    text: str
    logprobs: Logprobs | None = None
    finish_reason: FinishReason | None = None
    completion_tokens: int = 0


@dataclass
class Token:
    text: str  # what the token adds to the choice's text (the stream decoder's piece)
    shown: str  # the token on its own, for `logprobs.tokens`
    logprob: float | None
    top: dict[str, float] | None


class Choice:
    """One row of the batch: what it generated, what it gave out, what waits."""

    def __init__(self, index: int, tokenizer: Tokenizer, stop: tuple[str, ...], offset: int):
        self.index = index
        self.decoder = StreamDecoder(tokenizer)
        self.stop = stop
        self.waiting: list[Token] = []
        self.offset = offset  # where the next text given out starts, in the choice's text
        self.generated = 0
        self.finished = False

    def add(self, token: Token) -> None:
        self.generated += 1
        self.waiting.append(token)

    def take(self, *, final: bool) -> tuple[list[Token], bool]:
        """The tokens that can be given out now, and whether a stop string was hit."""
        text = "".join(t.text for t in self.waiting)
        cut = min((at for s in self.stop if (at := text.find(s)) >= 0), default=-1)
        if cut >= 0:
            ready = _tokens_before(self.waiting, cut)
            self.waiting = []
            return ready, True
        safe = len(text) if final else len(text) - _held_back(text, self.stop)
        ready: list[Token] = []
        end = 0
        while self.waiting and end + len(self.waiting[0].text) <= safe:
            end += len(self.waiting[0].text)
            ready.append(self.waiting.pop(0))
        return ready, False

    def piece(self, tokens: list[Token], with_logprobs: bool) -> Piece:
        logprobs = Logprobs() if with_logprobs else None
        text = []
        for token in tokens:
            if logprobs is not None:
                logprobs.tokens.append(token.shown)
                logprobs.token_logprobs.append(token.logprob)
                logprobs.top_logprobs.append(token.top)
                logprobs.text_offset.append(self.offset)
            text.append(token.text)
            self.offset += len(token.text)
        return Piece(self.index, "".join(text), logprobs)


def _held_back(text: str, stops: tuple[str, ...]) -> int:
    """How many characters at the end of text could be the start of a stop string."""
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:size]):
                longest = size
                break
    return longest


def _tokens_before(tokens: list[Token], cut: int) -> list[Token]:
    """The tokens of text[:cut], the last one cropped where the stop string starts."""
    kept: list[Token] = []
    end = 0
    for token in tokens:
        if end >= cut:
            break
        room = cut - end
        kept.append(token if len(token.text) <= room else _cropped(token, room))
        end += len(token.text)
    return kept


def _cropped(token: Token, size: int) -> Token:
    return Token(token.text[:size], token.shown, token.logprob, token.top)


class Completion:
    """The choices of one prompt on a loaded checkpoint: generated together, one batch per
    step, and with other completions' choices where several wait (`together.py`)."""

    def __init__(self, sampler: Sampler, request: CompletionRequest) -> None:
        request.check()
        self.sampler = sampler
        self.request = request
        self.prompt_ids = sampler.encode_prompt(request.prompt)
        self.prompt_tokens = len(self.prompt_ids) if request.prompt else 0

    def opening(self, first_index: int) -> tuple[list[Piece], list[Choice]]:
        """The pieces given before anything is generated (the echoed prompt; every choice's
        one piece when max_tokens is 0), and the choices left to generate (numbered from
        first_index)."""
        request, tokenizer = self.request, self.sampler.tokenizer
        with_logprobs = request.logprobs is not None
        start = len(request.prompt) if request.echo else 0
        choices = [
            Choice(first_index + i, tokenizer, request.stop, start) for i in range(request.n)
        ]
        pieces: list[Piece] = []
        if request.echo:
            echoed = self._echo(with_logprobs)
            pieces += [Piece(c.index, request.prompt, echoed(c.index)) for c in choices]
        if request.max_tokens == 0:
            pieces += [
                Piece(c.index, "", Logprobs() if with_logprobs else None, "length", 0)
                for c in choices
            ]
            return pieces, []
        return pieces, choices

    def _echo(self, with_logprobs: bool) -> Callable[[int], Logprobs | None]:
        """The echoed prompt's logprobs for a choice (the same for each): the first token has
        none; each later one its probability after the tokens before it (in one window)."""
        if not with_logprobs:
            return lambda _index: None
        tokenizer = self.sampler.tokenizer
        ids = self.prompt_ids if self.prompt_tokens else []
        scored = _prompt_logprobs(self.sampler, ids, self.request.logprobs or 0)
        base = Logprobs()
        offset = 0
        for token_id, (logprob, top) in zip(ids, scored, strict=True):
            shown = shown_token(tokenizer, token_id)
            base.tokens.append(shown)
            base.token_logprobs.append(logprob)
            base.top_logprobs.append(top)
            base.text_offset.append(offset)
            offset += len(shown)

        def echoed(_index: int) -> Logprobs | None:
            return Logprobs(
                list(base.tokens),
                list(base.token_logprobs),
                list(base.top_logprobs),
                list(base.text_offset),
            )

        return echoed


def shown_token(tokenizer: Tokenizer, token_id: int) -> str:
    return tokenizer.decode_bytes([token_id]).decode("utf-8", errors="replace")


def top_tokens(tokenizer: Tokenizer, ids: list[int], values: list[float]) -> dict[str, float]:
    top: dict[str, float] = {}
    for token_id, value in zip(ids, values, strict=True):
        top.setdefault(shown_token(tokenizer, token_id), value)
    return top


@torch.inference_mode()
def _prompt_logprobs(
    sampler: Sampler, ids: list[int], k: int
) -> list[tuple[float | None, dict[str, float] | None]]:
    """Each prompt token's log-probability after those before it (the first has none; a
    prompt longer than block_size is scored in its last window)."""
    if not ids:
        return []
    block_size = sampler.model.config.block_size
    window = ids[-block_size:]
    unscored = len(ids) - len(window) + 1
    scored: list[tuple[float | None, dict[str, float] | None]] = [(None, None)] * unscored
    if len(window) < 2:
        return scored
    idx = torch.tensor([window], dtype=torch.long, device=sampler.device)
    targets = torch.tensor([[*window[1:], -1]], dtype=torch.long, device=sampler.device)
    logits, _ = sampler.model(idx, targets)  # with targets: the logits of every position
    logp = F.log_softmax(logits[0, :-1, : sampler.tokenizer.vocab_size].float(), dim=-1)
    chosen = logp[torch.arange(len(window) - 1), torch.tensor(window[1:])].tolist()
    if k:
        values, top_ids = torch.topk(logp, min(k, logp.size(-1)), dim=-1)
        tops: list[dict[str, float] | None] = [
            top_tokens(sampler.tokenizer, top_ids[i].tolist(), values[i].tolist())
            for i in range(len(chosen))
        ]
    else:
        tops = [None] * len(chosen)
    return scored + list(zip(chosen, tops, strict=True))
