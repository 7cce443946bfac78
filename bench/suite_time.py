"""How long the test suite takes on a fresh clone: `git clone` of a commit, then `make test`
(or `make test-fast`), as CI runs it. Prints the wall time of the whole target (the install
included), pytest's own time and result line, and the machine's load before and after, since a
busy machine makes every figure meaningless.

    python bench/suite_time.py                      # make test-fast on HEAD
    python bench/suite_time.py --target test --ci   # what .ci/run does (CI=1: services required)
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import cpu_flags, machine

REPO = Path(__file__).resolve().parents[1]


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=["test", "test-fast"], default="test-fast")
    parser.add_argument("--ref", default="HEAD", help="the commit to clone (default HEAD)")
    parser.add_argument("--ci", action="store_true", help="run .ci/run's way (CI=1)")
    parser.add_argument("--log", type=Path, help="write the whole output here")
    args = parser.parse_args()

    print(f"machine: {machine()}; flags: {cpu_flags()}")
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", args.ref],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="suite-time-") as tmp:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        subprocess.run(["git", "-C", str(clone), "checkout", "-q", commit], check=True)
        env = dict(os.environ)
        command = [str(clone / ".ci" / "run")] if args.ci else ["make", args.target]
        if args.ci:
            env["CI"] = "1"
        print(f"{' '.join(command)} on a fresh clone of {commit}; load before: {load()}")
        started = time.monotonic()
        done = subprocess.run(command, cwd=clone, env=env, capture_output=True, text=True)
        wall = time.monotonic() - started
    output = done.stdout + done.stderr
    if args.log:
        args.log.write_text(output)
    summary = [line for line in output.splitlines() if re.search(r" in [0-9.]+s", line)]
    print(f"load after: {load()}")
    print(f"wall, install included: {wall:.0f} s ({wall / 60:.1f} min)")
    print(f"pytest: {summary[-1].strip('= ') if summary else '(no summary line)'}")
    if done.returncode != 0:
        print(output[-4000:], file=sys.stderr)
    return done.returncode


if __name__ == "__main__":
    raise SystemExit(main())
