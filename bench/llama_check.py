"""llama.cpp runs our GGUF exports: it loads each and continues a prompt greedily as our
sampler does (temperature 0), for a char model, a trained BPE and GPT-2's tokenizer.

    make llama-check      # builds llama.cpp's llama-simple from the llama-cpp-python sdist
    python bench/llama_check.py --llama-simple .llama-check/build/bin/llama-simple

Each model is trained here for a few hundred steps on Shakespeare (so its greedy text is not
one repeated character), exported as gguf (f32: our numbers exactly) and gguf-q8_0, and run
by llama-simple (greedy sampler, no BOS added: the export says so). The continuation must be
ours, character for character, for f32; q8_0 is reported (8-bit weights may pick another
token once logits are close). The prompt and the continuation stay inside block_size: past
it our gpt2-arch sampler slides its window, which llama.cpp does not do.

Without a llama-simple binary (no `make llama-check` yet) it says so and exits 0, so
`make bench` passes on a machine that never built llama.cpp.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from _machine import machine

HERE = Path(__file__).resolve().parent
DEFAULT_BINARY = HERE.parent / ".llama-check" / "build" / "bin" / "llama-simple"
SHAKESPEARE = HERE.parent / "app" / "sample_data" / "tinyshakespeare.txt"
PROMPT = "ROMEO:\nI will"
TOKENIZERS = ("char", "bpe", "gpt2")


def train_run(tmp: Path, tokenizer: str, iters: int) -> Path:
    from worker.engine.config.train_config import TrainConfig
    from worker.engine.data.prepare import prepare
    from worker.engine.training.loop import train

    source = tmp / "input.txt"
    source.write_text(SHAKESPEARE.read_text(encoding="utf-8")[:200_000], encoding="utf-8")
    data = tmp / f"data-{tokenizer}"
    options = {"vocab_size": 512} if tokenizer == "bpe" else {}
    prepare(source, data, tokenizer=tokenizer, val_fraction=0.1, **options)
    out = tmp / f"run-{tokenizer}"
    cfg = TrainConfig.from_mapping({
        "data_dir": str(data), "out_dir": str(out), "device": "cpu", "compile": False,
        "n_layer": 2, "n_head": 2, "n_embd": 64, "block_size": 64, "batch_size": 16,
        "gradient_accumulation_steps": 1,  # not nanoGPT's 40: GPT-2's 50k-token head is slow
        "max_iters": iters, "eval_interval": iters, "eval_iters": 2, "log_interval": iters,
        "learning_rate": 3e-3, "warmup_iters": 10, "lr_decay_iters": iters, "min_lr": 3e-4,
        "dropout": 0.0, "bias": tokenizer != "gpt2",
    })  # fmt: skip
    train(cfg)
    return out


def ours(run: Path, tokens: int) -> str:
    from worker.engine.sampling.sample import SampleOptions, load_sampler

    options = SampleOptions(max_new_tokens=tokens, temperature=0.0, top_k=None)
    return load_sampler(run, device="cpu").generate(PROMPT, options)[0][len(PROMPT) :]


def llama(binary: Path, model: Path, tokens: int) -> str:
    done = subprocess.run(
        [str(binary), "-m", str(model), "-n", str(tokens), PROMPT],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0 or not done.stdout.startswith(PROMPT):
        raise RuntimeError(f"llama-simple failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout[len(PROMPT) :].removesuffix("\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--llama-simple", type=Path, default=DEFAULT_BINARY)
    parser.add_argument("--iters", type=int, default=300)
    parser.add_argument("--tokens", type=int, default=24)
    parser.add_argument("--tokenizers", default=",".join(TOKENIZERS))
    args = parser.parse_args()
    if not args.llama_simple.is_file():
        print(f"no llama-simple at {args.llama_simple}: run `make llama-check` to build it")
        return 0
    sys.path.insert(0, str(HERE.parent))
    from worker.engine.checkpoints.export import export_checkpoint

    print(machine())
    failed = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for tokenizer in args.tokenizers.split(","):
            run = train_run(tmp, tokenizer, args.iters)
            want = ours(run, args.tokens)
            for fmt in ("gguf", "gguf-q8_0"):
                (model,) = export_checkpoint(run, fmt, tmp / f"{tokenizer}-{fmt}")
                got = llama(args.llama_simple, model, args.tokens)
                # llama-simple stops at an end-of-text token, where ours writes it out
                same = bool(got) and want.startswith(got)
                verdict = "same" if same else "DIFFERENT"
                print(
                    f"{tokenizer:5} {fmt:10} {verdict}: llama.cpp {got!r} / ours {want!r}",
                    flush=True,
                )
                if fmt == "gguf" and not same:
                    failed.append(f"{tokenizer} {fmt}")
    if failed:
        print(f"llama.cpp's greedy text differs from ours: {', '.join(failed)}", file=sys.stderr)
        return 1
    print("llama.cpp continues every f32 export exactly as the studio does")
    return 0


if __name__ == "__main__":
    sys.exit(main())
