"""`nanogpt-studio export` and `import-nanogpt`: checkpoints to and from other tools."""

from __future__ import annotations

import argparse
import sys


def export(args: argparse.Namespace, _extra: list[str]) -> int:
    from worker.engine.checkpoints.export import export_checkpoint

    for path in export_checkpoint(args.ckpt, args.format, args.out):
        print(path)
    return 0


def import_nanogpt(args: argparse.Namespace, _extra: list[str]) -> int:
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
