"""`nanogpt-studio`: nanoGPT's prepare / train / sample workflow, plus the service commands.

Engine commands take nanoGPT's knob names as `--key=value`; the service commands (serve, api,
worker, migrate) come from app.commands and are imported only when used.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from worker.engine.checkpoints.export_formats import FORMATS
from worker.engine.errors import EngineError


def main(argv: Sequence[str] | None = None) -> int:
    global _ARGV
    _ARGV = argv
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    if extra and not getattr(args, "takes_overrides", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.handler(args, extra) or 0)
    except EngineError as exc:
        print_error(exc)
        return 2


def print_error(exc: EngineError) -> None:
    where = f"{exc.field}: " if exc.field else ""
    print(f"error: {where}{exc.message}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nanogpt-studio",
        description="Prepare text, train a GPT on it and sample from it (nanoGPT's workflow).",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    prep = commands.add_parser(
        "prepare", help="turn text files, folders or archives into train.bin/val.bin/meta.json"
    )
    prep.add_argument(
        "inputs",
        type=Path,
        nargs="+",
        metavar="PATH",
        help="text, JSONL, JSON, CSV/TSV, Parquet or Arrow files, folders, archives; every "
        "file, record or row is a document",
    )
    prep.add_argument(
        "--text_field", help="JSON/CSV/Parquet: the field holding the text (default: text)"
    )
    prep.add_argument("--dedup", action="store_true", help="drop exact duplicate documents")
    prep.add_argument(
        "--on_bad_record",
        choices=("error", "skip"),
        default="error",
        help="a record that cannot be read stops prepare (error) or is counted (skip)",
    )
    prep.add_argument("--tokenizer", choices=("char", "gpt2", "bpe"), default="char")
    prep.add_argument(
        "--vocab_size",
        type=int,
        help="bpe only: the trained tokenizer's size, 256..32768 (default 2048)",
    )
    prep.add_argument("--out", type=Path, required=True, help="folder for the token files")
    prep.add_argument("--val_fraction", type=float, default=0.1)
    prep.add_argument(
        "--bpe_train_chars",
        type=int,
        help="bpe only: train on at most this many characters of the training split, in "
        "evenly spread stretches (default 100,000,000)",
    )
    prep.set_defaults(handler=_prepare)

    train = commands.add_parser(
        "train",
        help="train a GPT (knobs as --key=value, e.g. --n_layer=4)",
        epilog="Any TrainConfig field can be set as --key=value; later sources win: "
        "preset, then --config file, then --key=value.",
    )
    train.add_argument("--data", required=True, help="a folder made by `prepare`")
    train.add_argument("--out", required=True, help="folder for checkpoints")
    train.add_argument(
        "--config", type=Path, help="a .toml or .json file of settings, or a nanoGPT config .py"
    )
    train.add_argument(
        "--preset",
        help="tiny-cpu, shakespeare-char, gpt2-small, finetune-gpt2, or a size with -fast "
        "(the modern arch and Muon: tiny-cpu-fast, ...)",
    )
    train.add_argument(
        "--nproc",
        type=int,
        default=1,
        help="processes (DDP ranks): one per GPU, or gloo on the CPU; started through torchrun",
    )
    train.add_argument(
        "--dry-run",
        action="store_true",
        help="check the config against the data and this machine's memory, print every error "
        "and warning and the run's size, and train nothing (the API's ?dry_run=true)",
    )
    train.add_argument(
        "--budget",
        help='a wall time ("90s", "20m", "2h" or seconds): the planner sizes the model, batch '
        "and iterations for it (knobs set by --config or --key=value are kept)",
    )
    train.add_argument(
        "--calibrate",
        action="store_true",
        help="with --budget: time a few steps on this device first instead of its cached speed",
    )
    train.set_defaults(handler=_train, takes_overrides=True)

    sample = commands.add_parser("sample", help="generate text from a checkpoint")
    sample.add_argument("--ckpt", required=True, help="a run folder (its ckpt.pt) or a .pt file")
    sample.add_argument("--start", default="\n", help='prompt; "FILE:path" reads it from a file')
    sample.set_defaults(handler=_sample, takes_overrides=True)

    export = commands.add_parser("export", help="write a checkpoint in another tool's format")
    export.add_argument("--ckpt", required=True, help="a run folder (its ckpt.pt) or a .pt file")
    export.add_argument("--format", required=True, choices=FORMATS)
    export.add_argument("--out", type=Path, required=True, help="folder to write")
    export.set_defaults(handler=_export)

    evaluate = commands.add_parser(
        "evaluate", help="a checkpoint's loss, perplexity and bits per character on a text file"
    )
    evaluate.add_argument("--ckpt", required=True, help="a run folder (its ckpt.pt) or a .pt file")
    evaluate.add_argument("--device", default="auto", help="cpu, cuda, mps or auto")
    evaluate.add_argument("file", type=Path, help='UTF-8 text ("\\0" between documents)')
    evaluate.set_defaults(handler=_evaluate)

    imp = commands.add_parser("import-nanogpt", help="make a nanoGPT ckpt.pt into a run folder")
    imp.add_argument("ckpt", type=Path, help="nanoGPT's ckpt.pt")
    imp.add_argument("--meta", type=Path, help="its meta.pkl (char models)")
    imp.add_argument("--out", type=Path, required=True, help="a new run folder")
    imp.set_defaults(handler=_import_nanogpt)

    try:
        from app.commands import register
    except ImportError:  # the engine alone, without the service installed
        pass
    else:
        register(commands)
    return parser


def _prepare(args: argparse.Namespace, _extra: list[str]) -> int:
    from worker.engine.corpus import CorpusOptions
    from worker.engine.data.prepare_sources import prepare_sources

    label = args.inputs[0].name + (f" and {len(args.inputs) - 1} more" if args.inputs[1:] else "")
    bar = ProgressBar(f"prepare {label}")
    options = CorpusOptions(
        text_field=args.text_field, dedup=args.dedup, on_bad_record=args.on_bad_record
    )
    try:
        report, result = prepare_sources(
            args.inputs,
            args.out,
            options=options,
            progress=bar.update,
            tokenizer=args.tokenizer,
            vocab_size=args.vocab_size,
            val_fraction=args.val_fraction,
            bpe_train_chars=args.bpe_train_chars,
        )
    finally:
        bar.close()
    for source in report.sources:
        print(f"{source.name}: {source.format}, {source.documents:,} documents", end="")
        print(f", {source.skipped_count:,} skipped" if source.skipped_count else "")
        for skipped in source.skipped[:5]:
            print(f"  skipped {skipped.entry}: {skipped.reason}")
    if report.duplicates:
        verb = "dropped" if report.dropped_duplicates else "kept (--dedup drops them)"
        print(f"{report.duplicates:,} exact duplicate documents {verb}")
    documents = ""
    if result.documents > 1:
        held_out = "documents" if result.split == "documents" else "the tail"
        documents = f"{result.documents:,} documents (val: {held_out}); "
    print(
        f"{documents}{result.characters:,} characters, {result.lines:,} lines; "
        f"vocabulary {result.vocab_size:,}; "
        f"train {result.train_tokens:,} tokens, val {result.val_tokens:,} tokens -> {args.out}"
    )
    return 0


def _without_nproc(argv: list[str]) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def _train_ranks(nproc: int) -> int:
    """`train --nproc N`: the same command as N ranks under torchrun (nanoGPT's way)."""
    import os
    import subprocess

    from worker.engine.training.launch import torchrun_command

    if nproc < 1:
        print("error: nproc: must be at least 1", file=sys.stderr)
        return 2
    argv = _without_nproc(sys.argv[1:] if _ARGV is None else list(_ARGV))
    command = torchrun_command(nproc, "worker.cli", argv)
    # Ctrl-C reaches every rank from the terminal; this process just waits for them.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return subprocess.call(command, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    finally:
        signal.signal(signal.SIGINT, previous)


_ARGV: Sequence[str] | None = None  # the arguments main() was called with, for --nproc


def _train(args: argparse.Namespace, extra: list[str]) -> int:
    import os

    from worker.engine.wait_policy import choose_wait_policy

    choose_wait_policy()  # before torch loads
    from worker.engine.config.derived import with_derived_schedule
    from worker.engine.config.files import load_config_file
    from worker.engine.config.presets import preset_config
    from worker.engine.config.train_config import TrainConfig, parse_overrides
    from worker.engine.events import TrainCallbacks

    base = preset_config(args.preset) if args.preset else TrainConfig()
    given: dict[str, Any] = {}
    if args.config:
        given = load_config_file(args.config, report=lambda line: print(line, file=sys.stderr))
    set_by_user = {*given, *parse_overrides(extra)}
    given = {**given, **parse_overrides(extra), "data_dir": args.data, "out_dir": args.out}
    cfg = with_derived_schedule(base, given)
    if args.budget is not None:
        from worker.engine.training.calibration import plan_here

        cfg = plan_here(
            args.budget,
            cfg,
            fixed=set_by_user,
            calibrate=args.calibrate,
            report=lambda line: print(f"budget: {line}", file=sys.stderr),
        )
    if args.dry_run:
        return _dry_run(cfg)
    if _said_verdict(cfg, device=None):  # every error at once, then the loop's own preflight
        return 2
    if args.nproc != 1 and "RANK" not in os.environ:
        from worker.engine.training.ranks import steps_per_rank

        steps_per_rank(cfg.gradient_accumulation_steps, max(args.nproc, 1))  # before any start
        return _train_ranks(args.nproc)
    from worker.engine.training.loop import train

    class PrintAndStopOnCtrlC(TrainCallbacks):
        stop_requested = False

        def on_message(self, line: str) -> None:
            print(line, flush=True)

        def should_stop(self) -> bool:
            return self.stop_requested

    callbacks = PrintAndStopOnCtrlC()
    rank = int(os.environ.get("RANK", "0"))
    several = "RANK" in os.environ

    def on_sigint(_signum: int, _frame: FrameType | None) -> None:
        if callbacks.stop_requested and not several:
            raise KeyboardInterrupt  # a second Ctrl-C: leave without waiting
        if not callbacks.stop_requested and rank == 0:
            print("\nstopping after this iteration (Ctrl-C again to quit at once)", flush=True)
        callbacks.stop_requested = True

    # Under torchrun, Ctrl-C reaches each rank from the terminal and again from the agent
    # (as SIGINT or SIGTERM): every rank stops at the same step and rank 0 checkpoints.
    stop_signals = (signal.SIGINT, signal.SIGTERM) if several else (signal.SIGINT,)
    previous = {s: signal.signal(s, on_sigint) for s in stop_signals}
    try:
        result = train(cfg, callbacks)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if rank != 0:
        return 0
    where = f"; checkpoint {result.checkpoint}" if result.checkpoint else ""
    print(
        f"{result.status} at iteration {result.iter_num}, best val loss "
        f"{result.best_val_loss:.4f}{where}"
    )
    return 0


def _dry_run(cfg: Any) -> int:
    """`train --dry-run`: the verdict the API gives the same knobs, with this machine's device
    as the memory guard's, and the run's size; 2 when the run could not start."""
    if _said_verdict(cfg, device=_local_device(cfg), size=True):
        return 2
    print(f"{cfg.max_iters:,} iterations of {cfg.tokens_per_iter:,} tokens; nothing trained")
    return 0


def _said_verdict(cfg: Any, *, device: Any, size: bool = False) -> bool:
    """Print the verdict on `cfg` (config/verdict.py: what the API says of the same knobs):
    every error, or the warnings, which are allowed, so said and not refused, as nanoGPT would;
    True when there are errors."""
    from worker.engine.config.verdict import judge
    from worker.engine.data.meta import read_meta

    meta = read_meta(cfg.data_dir)
    verdict = judge(cfg, meta, vocab_size=int(meta["vocab_size"]), device=device)
    for error in verdict.errors:
        print_error(error)
    for warning in verdict.warnings:
        print(f"warning ({warning.field}): {warning.message}", file=sys.stderr)
    if size and verdict.memory is not None:
        estimate = verdict.memory.estimate
        print(
            f"{estimate.params:,} parameters; about {estimate.total_bytes / 2**20:,.0f} MiB a rank"
        )
    return bool(verdict.errors)


def _local_device(cfg: Any) -> Any:
    """This machine's device for `cfg.device`, with its free memory (None: not found)."""
    from worker.engine.config.memory_guard import Device
    from worker.jobs.device_probe import probe

    devices = [d for d in probe() if d.get("memory_free") is not None]
    kind, _, index = cfg.device.partition(":")
    if kind == "auto":
        kind = "cuda" if any(d["kind"] == "cuda" for d in devices) else "cpu"
    for d in devices:
        if d["kind"] == kind and (kind != "cuda" or int(d.get("index", 0)) == int(index or 0)):
            return Device(kind=kind, name=str(d["name"]), free_bytes=int(d["memory_free"]))
    return None


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


def _sample(args: argparse.Namespace, extra: list[str]) -> int:
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


def _export(args: argparse.Namespace, _extra: list[str]) -> int:
    from worker.engine.checkpoints.export import export_checkpoint

    for path in export_checkpoint(args.ckpt, args.format, args.out):
        print(path)
    return 0


def _evaluate(args: argparse.Namespace, _extra: list[str]) -> int:
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


def _import_nanogpt(args: argparse.Namespace, _extra: list[str]) -> int:
    from worker.engine.checkpoints.nanogpt_import import import_nanogpt

    result = import_nanogpt(args.ckpt, args.out, meta_path=args.meta)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    shape = result.model_args
    print(
        f"{shape['n_layer']} layers × {shape['n_embd']} dims, vocabulary {shape['vocab_size']} "
        f"({result.tokenizer['kind']}), iteration {result.iter_num} -> {result.checkpoint}"
    )
    return 0


class ProgressBar:
    """A one-line progress bar on stderr, redrawn at most ten times a second."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.started = time.monotonic()
        self.drawn = 0.0

    def update(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.drawn < 0.1 and done < total:
            return
        self.drawn = now
        fraction = done / total if total else 1.0
        filled = int(30 * fraction)
        rate = done / max(now - self.started, 1e-9) / 1e6
        sys.stderr.write(
            f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] {fraction:6.1%} {rate:7.1f} MB/s"
        )
        sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")


if __name__ == "__main__":
    raise SystemExit(main())
