"""`nanogpt-studio prepare`: files, folders and archives into train.bin/val.bin/meta.json."""

from __future__ import annotations

import argparse

from worker.cli.output import ProgressBar


def prepare(args: argparse.Namespace, _extra: list[str]) -> int:
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
