"""`nanogpt-studio sweep`: a sweep stored in the studio's database with the checks the API
makes (app.planning.sweep_plan), then followed until it ends, a line a trial; the service's
workers run and prune its trials (worker/jobs/sweeper.py), as for one made through the API."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from app.planning.sweep_plan import plan_sweep
from app.store import sweeps
from app.store.db import get_db
from app.store.errors import StudioError, problems_of
from app.store.states import SweepState

POLL_S = 2.0


def register_sweep(subparsers: argparse._SubParsersAction) -> None:
    sweep = subparsers.add_parser(
        "sweep",
        help="search knobs on the running studio: trials are runs, pruned as they go",
        epilog='e.g. --space \'{"learning_rate": {"low": 1e-4, "high": 3e-2, "log": true}}\'',
    )
    sweep.add_argument("--dataset-id", dest="dataset_id", type=int, required=True)
    sweep.add_argument("--tokenizer", default="char", help="char, gpt2 or bpe-<vocab size>")
    sweep.add_argument("--val-fraction", dest="val_fraction", type=float, default=0.1)
    sweep.add_argument("--preset", help="the base config's preset (default tiny-cpu)")
    sweep.add_argument("--config", type=json.loads, default={}, help="base config, as JSON")
    sweep.add_argument("--space", type=json.loads, required=True, help="knob -> range, JSON")
    sweep.add_argument("--trials", type=int, default=8)
    sweep.add_argument("--parallel", type=int, default=1)
    sweep.add_argument("--budget", help='each trial\'s time budget ("90s", "20m")')
    sweep.add_argument("--name")
    sweep.add_argument(
        "--no-follow", dest="follow", action="store_false", help="start it and return"
    )
    sweep.set_defaults(handler=_sweep)


def _sweep(args: argparse.Namespace, _extra: list[str]) -> int:
    try:
        with get_db().session() as session:
            new = plan_sweep(
                session,
                dataset_id=args.dataset_id,
                tokenizer=args.tokenizer,
                val_fraction=args.val_fraction,
                preset=args.preset,
                config=args.config,
                space=args.space,
                trials=max(1, args.trials),
                parallel=max(1, args.parallel),
                budget=args.budget,
                name=args.name,
            )
            sweep_id = sweeps.insert_sweep(session, new=new).id
            session.commit()
    except StudioError as exc:
        for problem in problems_of(exc):
            print(f"error ({problem.field}): {problem.message}", file=sys.stderr)
        return 2
    print(f"sweep {sweep_id}: {new.trials} trials, {new.parallel} at a time", flush=True)
    return _follow(sweep_id) if args.follow else 0


def _follow(sweep_id: int) -> int:
    said: dict[int, str] = {}
    while True:
        with get_db().session() as session:
            sweep = sweeps.get_sweep(session, sweep_id=sweep_id)
            trials = sweeps.trials_of(session, sweep_id=sweep_id)
            for trial in trials:
                line = _line(trial.number, trial.run_id, trial.params, trial.state, trial.value)
                if said.get(trial.number) != line:
                    print(line, flush=True)
                    said[trial.number] = line
            if sweep.state != SweepState.RUNNING:
                scored = [t for t in trials if t.state == "complete" and t.value is not None]
                best = min(scored, key=lambda t: t.value or 0.0, default=None)
                where = f"; best: trial {best.number} {best.params}" if best else ""
                print(f"sweep {sweep_id} {sweep.state}{where}", flush=True)
                return 0 if sweep.state == SweepState.SUCCEEDED else 1
        time.sleep(POLL_S)


def _line(
    number: int, run_id: int | None, params: dict[str, Any], state: str, value: float | None
) -> str:
    score = f", val bpc {value:.4f}" if value is not None else ""
    return f"trial {number} (run {run_id}) {params}: {state}{score}"
