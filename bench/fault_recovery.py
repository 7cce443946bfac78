"""Faults on purpose against a real `nanogpt-studio serve` (embedded valkey, SQLite, a tiny
run on the CPU), and how long the studio takes to get over each:

- valkey killed with SIGKILL mid-run: until serve has it back (`/health` says broker), until
  the SSE client's next point, whether any row was stored twice or any point missed; and a
  run posted right after the kill: until it starts.
- the training process killed with SIGKILL: until the run trains again (attempt 2), and
  whether its history has every iteration once.

    python bench/fault_recovery.py [--rounds 3] [--iters 300]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.studio_stack import training_process_pid  # the tests' finder

from bench._stack import ROOT, TOKEN, free_port, machine

TINY = {"n_layer": 1, "n_head": 2, "n_embd": 32, "block_size": 16, "batch_size": 4,
        "warmup_iters": 2, "eval_interval": 50, "eval_iters": 2, "log_interval": 1,
        "device": "cpu", "compile": False, "gradient_accumulation_steps": 1}  # fmt: skip


def wait(what: str, test, timeout: float = 180.0, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = test()
        if value:
            return value
        time.sleep(every)
    raise RuntimeError(f"timed out waiting for {what}")


class Studio:
    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("STUDIO_")}
        env.update(STUDIO_TOKEN=TOKEN, STUDIO_REAPER_INTERVAL_S="1", STUDIO_RESEND_AFTER_S="2",
                   STUDIO_LOG_LEVEL="warning")  # fmt: skip
        self.data_dir = data_dir
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.commands", "serve", "--data-dir", str(data_dir),
             "--port", str(self.port)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.base = f"http://127.0.0.1:{self.port}/api/v1"
        self.api = httpx.Client(
            base_url=self.base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
        )
        wait("serve", self.healthy, timeout=180, every=0.5)
        self.dataset = self.api.post("/datasets/sample").json()["id"]

    def healthy(self) -> bool:
        try:
            health = httpx.get(self.base + "/health", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return False
        return bool(health.get("broker")) and health.get("workers") == 2

    def start(self, iters: int) -> dict:
        config = {**TINY, "max_iters": iters, "lr_decay_iters": iters}
        body = {"dataset_id": self.dataset, "tokenizer": "char", "config": config}
        return self.api.post("/runs", json=body).json()

    def run(self, run_id: int) -> dict:
        return self.api.get(f"/runs/{run_id}").json()

    def finished(self, run_id: int) -> dict:
        return wait(
            "the run to finish",
            lambda: (r := self.run(run_id))["state"] in ("succeeded", "failed", "cancelled") and r,
            every=0.3,
        )

    def iters(self, run_id: int) -> list[int]:
        return [p["iter"] for p in self.api.get(f"/runs/{run_id}/metrics").json()["points"]]

    def close(self) -> None:
        self.api.close()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=120)


def broker_round(studio: Studio, iters: int) -> dict[str, float]:
    run = studio.start(iters)
    seen: list[tuple[float, int]] = []

    def follow() -> None:
        from tests.sse_client import events  # the tests' small SSE reader

        with httpx.Client(
            base_url=studio.base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=600
        ) as client:
            for event in events(client, f"/runs/{run['id']}/metrics/stream"):
                if event.event == "done":
                    return
                seen.append((time.monotonic(), event.data["iter"]))

    reader = threading.Thread(target=follow)
    reader.start()
    wait("the run to train", lambda: studio.run(run["id"])["iter"] >= 20)
    time.sleep(1.2)  # the AOF is fsynced every second
    pid = int((studio.data_dir / "valkey" / "valkey.pid").read_text())
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    posted: list[dict] = []
    poster = threading.Thread(target=lambda: posted.append(studio.start(20)))
    poster.start()  # a run posted in the outage
    wait("the broker to be down", lambda: not studio.healthy(), timeout=10, every=0.01)
    wait("the broker to be back", studio.healthy, every=0.01)
    back = time.monotonic() - killed
    poster.join()
    during = posted[0]
    started = wait(
        "the run posted in the outage to start",
        lambda: studio.run(during["id"])["state"] != "queued" and time.monotonic(),
    )
    reader.join(timeout=600)
    studio.finished(run["id"])
    studio.finished(during["id"])
    stored = studio.iters(run["id"])
    after_kill = [t for t, _ in seen if t > killed]
    return {
        "broker back (s)": back,
        "next SSE point (s)": (after_kill[0] - killed) if after_kill else float("nan"),
        "posted run starts (s)": started - killed,
        "rows stored twice": len(stored) - len(set(stored)),
        "points missed": len(set(range(iters + 1)) - {i for _, i in seen}),
    }


def training_round(studio: Studio, iters: int) -> dict[str, float]:
    run = studio.start(iters)
    wait("the run to train", lambda: studio.run(run["id"])["iter"] >= 20)
    pid = wait("the training process", lambda: training_process_pid(run["id"]))
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    wait("attempt 2", lambda: studio.run(run["id"])["attempts"] == 2 and
         studio.run(run["id"])["state"] == "running")  # fmt: skip
    resumed = time.monotonic() - killed
    done = studio.finished(run["id"])
    stored = studio.iters(run["id"])
    return {
        "training again (s)": resumed,
        "state": done["state"] == "succeeded",
        "iterations missing or twice": len(set(range(iters + 1)) ^ set(stored))
        + len(stored)
        - len(set(stored)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--iters", type=int, default=300)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="studio-faults-") as tmp:
        studio = Studio(Path(tmp))
        try:
            for round_no in range(1, args.rounds + 1):  # the two faults take turns
                broker = broker_round(studio, args.iters)
                print(f"round {round_no} broker:   {broker}", flush=True)
                training = training_round(studio, args.iters)
                print(f"round {round_no} training: {training}", flush=True)
        finally:
            studio.close()


if __name__ == "__main__":
    main()
