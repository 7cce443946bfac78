"""Completions generated together: the choices of several completions (the prompts of one
request, or the requests of several clients waiting for one model) as the rows of one batch,
one forward pass per step for all of them.

On a CPU a step of 16 rows costs little more than a step of one (docs/benchmarks.md, /v1),
so batching is most of the throughput under concurrent load. Each row keeps its own prompt
(left-padded, `generate.generate_batch`), its own sampling, seed, stop strings, log-probs
and max_tokens, and computes what it would alone; where a batch could not (a gpt2-arch
model whose padded window would jump, `generate.fits_unpadded`), the completions go one
after another instead. A row whose choice has ended (its max_tokens, a stop string, the end
of a document) leaves the batch at once, so a short request costs the long ones nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from worker.engine.sampling.completions import (
    Choice,
    Completion,
    CompletionRequest,
    FinishReason,
    Piece,
    Token,
    shown_token,
    top_tokens,
)
from worker.engine.sampling.generate import Sampling, fits_unpadded, generate_batch
from worker.engine.sampling.sample import Sampler
from worker.engine.tokenizers.load import Tokenizer


@dataclass
class _Row:
    completion: int  # its completion's place in the list
    choice: Choice
    seed: int  # choice i of a completion draws with the request's seed + i
    max_tokens: int
    logprobs: int | None  # the top-k alternatives it wants (None: no log-probs at all)


def complete(sampler: Sampler, request: CompletionRequest) -> Iterator[Piece]:
    """Every piece of one request's choices, as generated."""
    for _, piece in complete_together([Completion(sampler, request)], [0]):
        yield piece


def batches(completions: Sequence[Completion]) -> list[list[int]]:
    """Which completions are generated together: all in one batch when that computes what
    each would alone, else each on its own (the completions' places in the list)."""
    if not completions:
        return []
    model = completions[0].sampler.model
    lengths = [len(c.prompt_ids) for c in completions]
    longest = max(c.request.max_tokens for c in completions)
    if fits_unpadded(model, lengths, longest):
        return [list(range(len(completions)))]
    return [[i] for i in range(len(completions))]


def complete_together(
    completions: Sequence[Completion], first_indices: Sequence[int]
) -> Iterator[tuple[int, Piece]]:
    """Every piece of every completion (its choices numbered from its first index), with
    the completion's place in the list, as generated. All must be on one sampler."""
    rows: list[_Row] = []
    for number, (completion, first) in enumerate(zip(completions, first_indices, strict=True)):
        opening, choices = completion.opening(first)
        for piece in opening:
            yield number, piece
        request = completion.request
        rows += [
            _Row(number, c, request.seed + i, request.max_tokens, request.logprobs)
            for i, c in enumerate(choices)
        ]
    for group in batches(completions):
        members = [row for row in rows if row.completion in group]
        if members:
            yield from _decode(completions, members)


def _decode(completions: Sequence[Completion], rows: list[_Row]) -> Iterator[tuple[int, Piece]]:
    sampler = completions[rows[0].completion].sampler
    tokenizer, device = sampler.tokenizer, sampler.device
    requests = [completions[row.completion].request for row in rows]
    generators = [torch.Generator(device=device).manual_seed(row.seed) for row in rows]
    vocab = tokenizer.vocab_size
    samplings = [
        Sampling(temperature=r.temperature, top_k=None, top_p=r.top_p, vocab_limit=vocab)
        for r in requests
    ]
    prompts = [completions[row.completion].prompt_ids for row in rows]
    retired: set[int] = set()  # rows whose choice ended: out of the batch from the next step
    steps = generate_batch(
        sampler.model, prompts, max(row.max_tokens for row in rows), samplings, generators,
        retired,
    )  # fmt: skip
    eot = tokenizer.eot_id
    for tokens, logits in steps:
        scored = _scored(tokenizer, logits, tokens, [row.logprobs for row in rows])
        at_length: list[_Row] = []
        for row, token_id, (logprob, top) in zip(rows, tokens, scored, strict=True):
            choice = row.choice
            if choice.finished:
                continue
            with_logprobs = row.logprobs is not None
            if token_id == eot:  # the end of a document ends the choice (not shown)
                choice.generated += 1
                yield row.completion, _finish(choice, with_logprobs, "stop")
                continue
            choice.add(Token(choice.decoder.feed(token_id), shown_token(tokenizer, token_id),
                             logprob, top))  # fmt: skip
            ready, stopped = choice.take(final=False)
            if stopped:
                choice.finished = True
                piece = choice.piece(ready, with_logprobs)
                piece.finish_reason, piece.completion_tokens = "stop", choice.generated
                yield row.completion, piece
                continue
            if ready:
                yield row.completion, choice.piece(ready, with_logprobs)
            if choice.generated >= row.max_tokens:
                at_length.append(row)
        for row in at_length:  # after the step's other pieces, as a lone completion gives them
            yield row.completion, _finish(row.choice, row.logprobs is not None, "length")
        if all(row.choice.finished for row in rows):
            steps.close()
            return
        retired.update(i for i, row in enumerate(rows) if row.choice.finished)
        rows = [row for row in rows if not row.choice.finished]


def _finish(choice: Choice, with_logprobs: bool, reason: FinishReason) -> Piece:
    tail = choice.decoder.flush()
    if tail:
        choice.waiting.append(Token(tail, "", None, None))
    ready, stopped = choice.take(final=True)
    choice.finished = True
    piece = choice.piece([t for t in ready if t.shown or t.text], with_logprobs)
    piece.finish_reason = "stop" if stopped else reason
    piece.completion_tokens = choice.generated
    return piece


def _scored(
    tokenizer: Tokenizer, logits: torch.Tensor, tokens: list[int], ks: list[int | None]
) -> list[tuple[float | None, dict[str, float] | None]]:
    """Each row's log-probability of its token and its top-k alternatives (k: the row's;
    nothing for a row that wants no log-probs)."""
    if all(k is None for k in ks):
        return [(None, None)] * len(tokens)
    logp = F.log_softmax(logits[:, : tokenizer.vocab_size], dim=-1)
    chosen = logp[torch.arange(len(tokens)), torch.tensor(tokens)].tolist()
    most = max(k or 0 for k in ks)
    values, ids = torch.topk(logp, min(most, logp.size(-1)), dim=-1) if most else (None, None)
    scored: list[tuple[float | None, dict[str, float] | None]] = []
    for row, k in enumerate(ks):
        if k is None:
            scored.append((None, None))
        elif k == 0 or values is None or ids is None:
            scored.append((chosen[row], None))
        else:
            top = top_tokens(tokenizer, ids[row, :k].tolist(), values[row, :k].tolist())
            scored.append((chosen[row], top))
    return scored
