"""How well a checkpoint predicts a text of the user's: loss, perplexity and bits per character.

    score = score_text(load_sampler("out/x", device="cpu"), text)

The text is read as training text is (encode_bulk: each "\\0" ends a document and is the
end-of-text token), after the tokenizer's start token (what an empty prompt starts from), so
every token of the text is predicted, the first one included. It is cut into windows of
block_size tokens, one after another, and each token is predicted from the tokens before it
in its window: what the val loss of training measures, on the user's text.

- loss: mean cross-entropy in nats per token scored, over the model's whole vocabulary (as
  in training, so it compares with the run's val loss);
- perplexity: exp(loss);
- bits_per_char: the total loss in bits over the text's characters ("\\0" separators
  included: each is a token predicted), the same measure whatever the tokenizer
  (training/bits_per_char.py), so runs with different tokenizers compare fairly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from worker.engine.errors import DataError
from worker.engine.sampling.sample import Sampler

BATCH_WINDOWS = 8  # windows per forward pass


@dataclass(frozen=True)
class TextScore:
    loss: float
    perplexity: float
    bits_per_char: float
    tokens: int  # tokens predicted
    characters: int  # characters of the text


@torch.no_grad()
def score_text(
    sampler: Sampler, text: str, *, progress: Callable[[int, int], None] | None = None
) -> TextScore:
    """The checkpoint's loss on `text`; DataError for an empty text or one the tokenizer
    cannot read (a char model and a character it never saw). `progress(done, total)` after
    each batch of windows."""
    if not text:
        raise DataError("the text to evaluate on is empty", field="text")
    model, tokenizer = sampler.model, sampler.tokenizer
    ids = np.concatenate(
        [np.array([tokenizer.start_id], dtype=np.int64), tokenizer.encode_bulk(text)]
    ).astype(np.int64)
    tokens = len(ids) - 1
    if tokens < 1:
        raise DataError("the text holds no token to predict", field="text")
    block = model.config.block_size
    starts = list(range(0, tokens, block))
    total = 0.0
    model.eval()
    for done, first in enumerate(range(0, len(starts), BATCH_WINDOWS)):
        batch = starts[first : first + BATCH_WINDOWS]
        x = torch.zeros((len(batch), block), dtype=torch.long)
        y = torch.full((len(batch), block), -1, dtype=torch.long)  # -1: padding, not scored
        for row, start in enumerate(batch):
            end = min(start + block, tokens)
            x[row, : end - start] = torch.from_numpy(ids[start:end])
            y[row, : end - start] = torch.from_numpy(ids[start + 1 : end + 1])
        logits, _ = model(x.to(sampler.device), y.to(sampler.device))
        total += F.cross_entropy(
            logits.reshape(-1, logits.size(-1)).float(),
            y.to(sampler.device).reshape(-1),
            ignore_index=-1,
            reduction="sum",
        ).item()
        if progress is not None:
            progress(min(len(starts), (done + 1) * BATCH_WINDOWS), len(starts))
    loss = total / tokens
    return TextScore(
        loss=loss,
        perplexity=math.exp(min(loss, 700.0)),  # past e^700 a float overflows
        bits_per_char=total / math.log(2) / len(text),
        tokens=tokens,
        characters=len(text),
    )
