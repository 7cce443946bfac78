"""Text from a checkpoint: load it once, then stream samples as UTF-8-safe text pieces."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from worker.engine.checkpoints.files import (
    clean_state_dict,
    load_checkpoint,
    resolve_checkpoint_path,
)
from worker.engine.device import resolve_runtime
from worker.engine.errors import ConfigError, DataError
from worker.engine.model.build import AnyGPT, build_model
from worker.engine.sampling.generate import Sampling, generate_ids
from worker.engine.tokenizers.load import StreamDecoder, Tokenizer, tokenizer_from_meta


@dataclass(frozen=True)
class SampleOptions:
    max_new_tokens: int = 500
    temperature: float = 0.8
    top_k: int | None = 200
    top_p: float | None = None
    seed: int = 1337
    num_samples: int = 1
    # stop at the first sampled end-of-text token (not shown): one document per sample.
    # Off, the token is shown as "<|endoftext|>" and the sample goes on. A tokenizer
    # without one (a model trained on a single document) never stops early.
    stop_at_eot: bool = False

    def check(self) -> None:
        """Refuse values that cannot sample, naming the field."""
        if self.max_new_tokens < 1:
            raise ConfigError("max_new_tokens must be at least 1", field="max_new_tokens")
        if self.temperature < 0:
            raise ConfigError("temperature must not be negative (0 is greedy)", field="temperature")
        if self.top_k is not None and self.top_k < 1:
            raise ConfigError("top_k must be at least 1 (or left out)", field="top_k")
        if self.top_p is not None and not 0.0 < self.top_p <= 1.0:
            raise ConfigError("top_p must be above 0 and at most 1", field="top_p")
        if self.num_samples < 1:
            raise ConfigError("num_samples must be at least 1", field="num_samples")


class Sampler:
    """A loaded model and its tokenizer, ready to sample from many times."""

    def __init__(self, model: AnyGPT, tokenizer: Tokenizer, *, source: Path, iter_num: int) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.source = source
        self.iter_num = iter_num
        self.device = model.lm_head.weight.device

    def encode_prompt(self, prompt: str) -> list[int]:
        """Prompt ids; an empty prompt starts from the tokenizer's start token."""
        if prompt == "":
            return [self.tokenizer.start_id]
        ids = self.tokenizer.encode(prompt)
        if not ids:
            return [self.tokenizer.start_id]
        return ids

    def stream(self, prompt: str, options: SampleOptions, index: int = 0) -> Iterator[str]:
        """Text pieces of sample number `index` (seeded seed + index), prompt not included."""
        options.check()
        ids = self.encode_prompt(prompt)
        generator = torch.Generator(device=self.device)
        generator.manual_seed(options.seed + index)
        yield from self._stream_ids(ids, options, generator)

    def generate(self, prompt: str, options: SampleOptions) -> list[str]:
        """num_samples whole samples, each the prompt followed by its continuation."""
        options.check()
        return [
            prompt + "".join(self.stream(prompt, options, index))
            for index in range(options.num_samples)
        ]

    def _stream_ids(
        self, ids: list[int], options: SampleOptions, generator: torch.Generator
    ) -> Iterator[str]:
        sampling = Sampling(
            temperature=options.temperature,
            top_k=options.top_k,
            top_p=options.top_p,
            vocab_limit=self.tokenizer.vocab_size,
        )
        decoder = StreamDecoder(self.tokenizer)
        stop = self.tokenizer.eot_id if options.stop_at_eot else None
        for token in generate_ids(
            self.model, list(ids), options.max_new_tokens, sampling, generator
        ):
            if token == stop:
                break
            piece = decoder.feed(token)
            if piece:
                yield piece
        tail = decoder.flush()
        if tail:
            yield tail


def load_sampler(ckpt_path: str | Path, device: str = "auto") -> Sampler:
    """Load a checkpoint (file or run directory) for sampling, with weights_only=True."""
    path = resolve_checkpoint_path(ckpt_path)
    runtime = resolve_runtime(device, "float32", False)
    checkpoint = load_checkpoint(path, map_location=runtime.device)
    tokenizer_meta: dict[str, Any] | None = checkpoint.get("tokenizer")
    if tokenizer_meta is None:
        raise DataError(
            f"{path.name} carries no tokenizer; import it with its meta.pkl "
            "(nanogpt-studio import-nanogpt) first",
            field="ckpt",
        )
    tokenizer = tokenizer_from_meta(tokenizer_meta)
    model_args = {**checkpoint["model_args"], "dropout": 0.0}
    model = build_model(model_args)
    model.load_state_dict(clean_state_dict(checkpoint["model"]))
    model.to(runtime.device).eval()
    if tokenizer.vocab_size > model.config.vocab_size:
        raise DataError(
            f"the tokenizer has {tokenizer.vocab_size} tokens but the model only "
            f"{model.config.vocab_size}",
            field="ckpt",
        )
    return Sampler(model, tokenizer, source=path, iter_num=int(checkpoint["iter_num"]))
