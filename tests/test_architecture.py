"""The architecture holds: the import-linter contracts in pyproject.toml (layers point down,
the two sides apart, only the store speaks SQL, no cycles), and no module outside the store
writes a state column."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STORE = ROOT / "app" / "store"
# What a transition changes: the state, the failure, the lease and the times of the moves.
STATE_COLUMNS = {
    "state",
    "failure_reason",
    "failure_message",
    "cancel_requested",
    "worker_id",
    "heartbeat_at",
    "woken_at",
    "attempts",
    "queued_at",
    "started_at",
    "finished_at",
}
MODELS = {"Run", "Dataset", "Preparation", "Export"}
WRITERS = {"update", "insert", "values"}  # SQLAlchemy's statement builders
CONTRACTS = {
    "layers",
    "http-side",
    "job-side",
    "http-layers",
    "pages",
    "store-speaks-sql",
    "store-sends-jobs",
    "engine",
    "acyclic",
}


def test_the_import_contracts_hold() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    ids = {c["id"] for c in config["tool"]["importlinter"]["contracts"]}
    assert ids >= CONTRACTS, f"contracts missing from pyproject.toml: {CONTRACTS - ids}"
    lint_imports = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert f"Contracts: {len(ids)} kept, 0 broken." in done.stdout


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def state_writes(source: str) -> list[tuple[int, str]]:
    """(line, what) for each write of a state column in `source`: an attribute assigned
    (`run.state = …`, `setattr(run, "state", …)`), or a column given to an UPDATE, an INSERT
    or a model's constructor (`update(Run).values(state=…)`, `Run(state=…)`)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            if isinstance(target, ast.Attribute) and target.attr in STATE_COLUMNS:
                found.append((node.lineno, f"assigns .{target.attr}"))
        if not isinstance(node, ast.Call):
            continue
        called = _name(node.func)
        if called == "setattr" and len(node.args) >= 2:
            column = node.args[1]
            if isinstance(column, ast.Constant) and column.value in STATE_COLUMNS:
                found.append((node.lineno, f"setattr {column.value}"))
        if called in WRITERS | MODELS:
            for keyword in node.keywords:
                if keyword.arg in STATE_COLUMNS:
                    found.append((node.lineno, f"{called}({keyword.arg}=…)"))
    return found


def test_the_finder_sees_each_kind_of_write() -> None:
    source = "\n".join(
        [
            "run.state = 'failed'",
            "prep.attempts += 1",
            "setattr(run, 'worker_id', None)",
            "session.execute(update(Run).values(finished_at=now))",
            "session.add(Dataset(name='x', state='ready'))",
            "insert(Run).values(cancel_requested=True)",
            "outcome = Outcome(state='failed')  # a store type, not a write",
            "run.name = 'renamed'",
        ]
    )
    assert sorted(line for line, _ in state_writes(source)) == [1, 2, 3, 4, 5, 6]


def test_only_the_store_writes_state_columns() -> None:
    offenders = []
    for package in ("app", "worker"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.is_relative_to(STORE):
                continue
            for line, what in state_writes(path.read_text(encoding="utf-8")):
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {what}")
    assert offenders == []
