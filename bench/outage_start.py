"""How long a run created while the broker is away waits once the broker is back (issue 20:
its wake-up is lost with the broker; the reaper re-sends it from the database), side by side
with a run created while the broker is up.

    python bench/outage_start.py [--rounds 3] [--down-s 2]

Real parts as subprocesses: SQLite, an embedded valkey, the API and both workers, with the
service's default reaper interval (STUDIO_REAPER_INTERVAL_S, 15 s) unless --reaper-s says
otherwise. Each round: a run created with the broker up (created → running); then valkey
killed (SIGKILL), a run created (201: stored, its wake-up not sent), valkey started again on
its port after --down-s, and the time from that start until the run is running. Each run is
cancelled once it runs. Prints every round, the medians and the machine's CPU flags.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._machine import cpu_flags
from bench._stack import TOKEN, Service, machine

TINY = {"n_layer": 1, "n_head": 2, "n_embd": 32, "block_size": 16, "batch_size": 4,
        "max_iters": 100_000, "eval_interval": 100_000, "eval_iters": 1, "device": "cpu",
        "compile": False, "gradient_accumulation_steps": 1}  # fmt: skip


def wait(what: str, test, timeout: float = 300.0, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = test()
        if found:
            return found
        time.sleep(every)
    raise RuntimeError(f"timed out waiting for {what}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--down-s", type=float, default=2.0)
    parser.add_argument("--reaper-s", type=float, default=15.0)
    args = parser.parse_args()
    from app.embedded_valkey import restart_valkey, start_valkey

    print(f"machine: {machine()}; CPU flags: {cpu_flags()}; reaper every {args.reaper_s:g} s")
    with tempfile.TemporaryDirectory(prefix="studio-bench-") as tmp:
        data_dir = Path(tmp)
        valkey = start_valkey(data_dir / "valkey")
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("STUDIO_")},
            "STUDIO_DATA_DIR": str(data_dir),
            "STUDIO_DATABASE_URL": f"sqlite:///{data_dir / 'studio.db'}",
            "STUDIO_REDIS_URL": valkey.connection_url + "/0",
            "STUDIO_TOKEN": TOKEN,
            "STUDIO_LOG_LEVEL": "warning",
            "STUDIO_REAPER_INTERVAL_S": str(args.reaper_s),
        }
        subprocess.run([sys.executable, "-m", "app.commands", "migrate"], env=env, check=True)
        svc = Service(data_dir, env)
        try:
            svc.spawn("api", "api", "--port", str(svc.port))
            svc.spawn("train", "worker", "--queues", "train", "--concurrency", "1")
            svc.spawn("prepare", "worker", "--queues", "prepare,sample", "--concurrency", "1")
            svc.wait_ready(2)
            with svc.client() as api:
                dataset = api.post("/datasets/sample").json()
                body = {"dataset_id": dataset["id"], "tokenizer": "char", "config": TINY,
                        "accept_warnings": True}  # fmt: skip

                def state(run_id: int) -> str:
                    return api.get(f"/runs/{run_id}").json()["state"]

                def started(run_id: int) -> float:
                    return wait("running", lambda: state(run_id) == "running" and time.monotonic())

                def cancel(run_id: int) -> None:
                    api.post(f"/runs/{run_id}/cancel")
                    wait("cancelled", lambda: state(run_id) == "cancelled")

                first = api.post("/runs", json=body)  # prepares the split once
                assert first.status_code == 201, first.text
                first = first.json()
                started(first["id"])
                cancel(first["id"])
                up, out = [], []
                for round_ in range(1, args.rounds + 1):
                    created = time.monotonic()
                    run = api.post("/runs", json=body).json()
                    up.append(started(run["id"]) - created)
                    cancel(run["id"])

                    pid = int((data_dir / "valkey" / "valkey.pid").read_text())
                    os.kill(pid, signal.SIGKILL)
                    wait("the broker down", lambda: api.get("/health").status_code == 503)
                    run = api.post("/runs", json=body)
                    assert run.status_code == 201, run.text
                    time.sleep(args.down_s)
                    valkey = restart_valkey(valkey, data_dir / "valkey")
                    back = time.monotonic()
                    out.append(started(run.json()["id"]) - back)
                    print(
                        f"round {round_}: broker up: created → running {up[-1]:.2f} s; "
                        f"created in an outage: broker back → running {out[-1]:.2f} s",
                        flush=True,
                    )
                    cancel(run.json()["id"])
            print(
                f"median: broker up {statistics.median(up):.2f} s; "
                f"after an outage {statistics.median(out):.2f} s (max {max(out):.2f} s)"
            )
        finally:
            for proc in svc.procs.values():
                os.killpg(proc.pid, signal.SIGTERM)
            for proc in svc.procs.values():
                proc.wait(timeout=60)
            valkey.stop()


if __name__ == "__main__":
    main()
