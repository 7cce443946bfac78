"""`nanogpt-studio`: nanoGPT's prepare / train / sample workflow, plus the service commands.

Engine commands take nanoGPT's knob names as `--key=value`; the service commands (serve, api,
worker, migrate) come from app.commands and are imported only when used. One module per
command: prepare.py, train.py, sample.py (sample, evaluate), checkpoints.py (export, import).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from worker.cli.checkpoints import export as export_command
from worker.cli.checkpoints import import_nanogpt as import_command
from worker.cli.output import print_error
from worker.cli.prepare import prepare as prepare_command
from worker.cli.sample import evaluate as evaluate_command
from worker.cli.sample import sample as sample_command
from worker.cli.train import train as train_command
from worker.engine.checkpoints.export_formats import FORMATS
from worker.engine.errors import EngineError


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    if extra and not getattr(args, "takes_overrides", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.argv = list(sys.argv[1:] if argv is None else argv)  # train --nproc starts it again
    try:
        return int(args.handler(args, extra) or 0)
    except EngineError as exc:
        print_error(exc)
        return 2


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
    prep.set_defaults(handler=prepare_command)

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
    train.set_defaults(handler=train_command, takes_overrides=True)

    sample = commands.add_parser("sample", help="generate text from a checkpoint")
    sample.add_argument("--ckpt", required=True, help="a run folder (its ckpt.pt) or a .pt file")
    sample.add_argument("--start", default="\n", help='prompt; "FILE:path" reads it from a file')
    sample.set_defaults(handler=sample_command, takes_overrides=True)

    export = commands.add_parser("export", help="write a checkpoint in another tool's format")
    export.add_argument("--ckpt", required=True, help="a run folder (its ckpt.pt) or a .pt file")
    export.add_argument("--format", required=True, choices=FORMATS)
    export.add_argument("--out", type=Path, required=True, help="folder to write")
    export.set_defaults(handler=export_command)

    evaluate = commands.add_parser(
        "evaluate", help="a checkpoint's loss, perplexity and bits per character on a text file"
    )
    evaluate.add_argument("--ckpt", required=True, help="a run folder (its ckpt.pt) or a .pt file")
    evaluate.add_argument("--device", default="auto", help="cpu, cuda, mps or auto")
    evaluate.add_argument("file", type=Path, help='UTF-8 text ("\\0" between documents)')
    evaluate.set_defaults(handler=evaluate_command)

    imp = commands.add_parser("import-nanogpt", help="make a nanoGPT ckpt.pt into a run folder")
    imp.add_argument("ckpt", type=Path, help="nanoGPT's ckpt.pt")
    imp.add_argument("--meta", type=Path, help="its meta.pkl (char models)")
    imp.add_argument("--out", type=Path, required=True, help="a new run folder")
    imp.set_defaults(handler=import_command)

    try:
        from app.commands import register
    except ImportError:  # the engine alone, without the service installed
        pass
    else:
        register(commands)
    return parser
