"""Training through the service against the engine CLI, same config, same machine.

    python bench/service_train_overhead.py [--iters 300] [--rounds 2] [--preset tiny-cpu]

Alternates `nanogpt-studio train` (the engine alone) and a run through the service (API →
Celery → training process with the database/pub-sub reporter), --rounds times each. Both print
nanoGPT's "iter N: loss …, time X ms" lines (the CLI on stdout, the service into the run's
log); tokens/s is tokens_per_iter / median step time over every logged step after the fifth."""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._stack import ROOT, machine, service

SHAKESPEARE = ROOT / "app" / "sample_data" / "tinyshakespeare.txt"
STEP = re.compile(r"^iter (\d+): loss [\d.]+, time ([\d.]+)ms")


def tokens_per_sec(lines: list[str], tokens_per_iter: int) -> float:
    steps = [float(m.group(2)) for line in lines if (m := STEP.match(line))]
    return tokens_per_iter / (statistics.median(steps[5:]) / 1000)


DEVICE = "cpu"


def overrides(iters: int) -> dict[str, object]:
    # One evaluation at each end, log every step: the reporter's heaviest case.
    return {
        "max_iters": iters,
        "lr_decay_iters": iters,
        "warmup_iters": min(10, iters // 2),
        "eval_interval": iters,
        "log_interval": 1,
        "device": DEVICE,
        "compile": False,
    }


def run_cli(data: Path, out: Path, preset: str, iters: int) -> list[str]:
    args = [f"--{k}={v}" for k, v in overrides(iters).items()]
    command = [
        sys.executable,
        "-m",
        "worker.cli",
        "train",
        "--data",
        str(data),
        "--out",
        str(out),
        "--preset",
        preset,
        *args,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    return result.stdout.splitlines()


def run_service(client, dataset_id: int, preset: str, iters: int) -> list[str]:
    body = {
        "dataset_id": dataset_id,
        "tokenizer": "char",
        "preset": preset,
        "config": overrides(iters),
    }
    response = client.post("/runs", json=body)
    assert response.status_code == 201, response.text
    run = response.json()
    while run["state"] not in ("succeeded", "failed", "cancelled"):
        time.sleep(0.5)
        run = client.get(f"/runs/{run['id']}").json()
    assert run["state"] == "succeeded", run
    lines = client.get(f"/runs/{run['id']}/logs", params={"limit": 5000}).json()["items"]
    return [item["line"] for item in lines]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iters", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--preset", default="tiny-cpu")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, mps (compile stays off)")
    args = parser.parse_args()
    global DEVICE
    DEVICE = args.device
    from worker.engine.config.presets import preset_config
    from worker.engine.data.prepare import prepare

    tokens_per_iter = preset_config(args.preset).tokens_per_iter
    cli, svc_rates = [], []
    with tempfile.TemporaryDirectory() as tmp, service(workers=True) as svc:
        data = Path(tmp) / "data"
        prepare(SHAKESPEARE, data, tokenizer="char")
        with svc.client() as client:
            dataset = client.post("/datasets/sample").json()
            # The first service run also prepares the dataset; not timed.
            run_service(client, dataset["id"], args.preset, 10)
            for round_ in range(args.rounds):
                lines = run_cli(data, Path(tmp) / f"out{round_}", args.preset, args.iters)
                cli.append(tokens_per_sec(lines, tokens_per_iter))
                lines = run_service(client, dataset["id"], args.preset, args.iters)
                svc_rates.append(tokens_per_sec(lines, tokens_per_iter))
                print(
                    f"round {round_ + 1}: cli {cli[-1]:,.0f} tok/s, "
                    f"service {svc_rates[-1]:,.0f} tok/s",
                    flush=True,
                )
    a, b = statistics.median(cli), statistics.median(svc_rates)
    # Each round pairs two runs made back to back: the median of their ratios is steadier
    # than the ratio of medians when the machine's speed drifts.
    paired = statistics.median(s / c for s, c in zip(svc_rates, cli, strict=True))
    print(f"machine: {machine()}")
    print(
        f"{args.preset} on {args.device}, {args.iters} iters, log every step: engine CLI "
        f"{a:,.0f} tok/s, service {b:,.0f} tok/s (medians); service/CLI per round: median "
        f"{100 * (paired - 1):+.1f}%"
    )


if __name__ == "__main__":
    main()
