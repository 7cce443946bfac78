"""From a metric being logged in the training process to an SSE client receiving it.

    python bench/service_sse_latency.py [--iters 300]

Runs the whole service (API, workers, SQLite, embedded valkey), starts a small char-level run
that logs every step, follows GET /runs/{id}/metrics/stream from before the run starts, and
for every live point takes (time received) − (logged_at, stamped by the training process
when the engine reported the step). Same machine, same clock. Prints p50/p95/max."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._stack import machine, percentile, service


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iters", type=int, default=300)
    args = parser.parse_args()
    config = {
        "n_layer": 2,
        "n_head": 2,
        "n_embd": 64,
        "block_size": 32,
        "batch_size": 8,
        "max_iters": args.iters,
        "lr_decay_iters": args.iters,
        "warmup_iters": 10,
        "eval_interval": 100,
        "eval_iters": 5,
        "log_interval": 1,
        "gradient_accumulation_steps": 1,
        "device": "cpu",
        "compile": False,
    }
    latencies: list[float] = []
    with service(workers=True) as svc, svc.client() as client:
        dataset = client.post("/datasets/sample").json()
        run = client.post(
            "/runs", json={"dataset_id": dataset["id"], "tokenizer": "char", "config": config}
        ).json()
        with client.stream("GET", f"/runs/{run['id']}/metrics/stream") as response:
            event = None
            for line in response.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event == "metric":
                    received = time.time()
                    point = json.loads(line[5:])
                    logged = datetime.fromisoformat(point["logged_at"].replace("Z", "+00:00"))
                    latencies.append((received - logged.timestamp()) * 1000)
                elif line.startswith("data:") and event == "done":
                    break
    print(f"machine: {machine()}")
    print(
        f"metric → SSE client, {len(latencies)} points: p50 {percentile(latencies, 50):.0f} ms, "
        f"p95 {percentile(latencies, 95):.0f} ms, max {max(latencies):.0f} ms"
    )


if __name__ == "__main__":
    main()
