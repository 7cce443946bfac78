"""`nanogpt-studio sample` and `evaluate`: a checkpoint's sampler, writing or scoring text."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def parse_bool(raw: str) -> bool:
    """true/false/1/0 (any case); ValueError for anything else."""
    value = {"true": True, "false": False, "1": True, "0": False}.get(raw.lower())
    if value is None:
        raise ValueError(raw)
    return value


SAMPLE_KNOBS: dict[str, Callable[[str], Any]] = {
    "num_samples": int,
    "max_new_tokens": int,
    "temperature": float,
    "top_k": int,
    "top_p": float,
    "seed": int,
    "stop_at_eot": parse_bool,
}


def sample(args: argparse.Namespace, extra: list[str]) -> int:
    from worker.engine.wait_policy import choose_wait_policy

    choose_wait_policy()  # before torch loads
    from worker.engine.config.train_config import parse_overrides
    from worker.engine.errors import ConfigError
    from worker.engine.sampling.sample import SampleOptions, load_sampler

    overrides = parse_overrides(extra)
    device = overrides.pop("device", "auto")
    options: dict[str, Any] = {}
    for key, raw in overrides.items():
        if key not in SAMPLE_KNOBS:
            known = ", ".join([*SAMPLE_KNOBS, "device"])
            raise ConfigError(f"unknown sampling setting {key!r}; known: {known}", field=key)
        parse = SAMPLE_KNOBS[key]
        try:
            options[key] = None if raw.lower() == "none" and parse is not parse_bool else parse(raw)
        except ValueError:
            wanted = "true or false (or 1 or 0)" if parse is parse_bool else "a number"
            raise ConfigError(f"{key} must be {wanted}, got {raw!r}", field=key) from None
    sample_options = SampleOptions(**options)
    sample_options.check()
    prompt = args.start
    if prompt.startswith("FILE:"):
        prompt = Path(prompt[5:]).read_text(encoding="utf-8")
    sampler = load_sampler(args.ckpt, device=device)
    sampler.encode_prompt(prompt)  # refuse a prompt the tokenizer cannot encode before printing
    for index in range(sample_options.num_samples):
        sys.stdout.write(prompt)
        for piece in sampler.stream(prompt, sample_options, index):
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n---------------\n")
    return 0


def evaluate(args: argparse.Namespace, _extra: list[str]) -> int:
    """Prints the evaluation as JSON, with the API's names (docs/api.md, evaluations)."""
    import dataclasses
    import json

    from worker.engine.wait_policy import choose_wait_policy

    choose_wait_policy()  # before torch loads
    from worker.engine.errors import DataError
    from worker.engine.sampling.sample import load_sampler
    from worker.engine.sampling.score import score_text

    try:
        text = args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {args.file}: {exc}", field="file") from None
    sampler = load_sampler(args.ckpt, device=args.device)
    score = score_text(sampler, text)
    print(json.dumps({"iter": sampler.iter_num, **dataclasses.asdict(score)}))
    return 0
