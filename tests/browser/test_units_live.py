"""The runs table's unit as the scripts keep it (static/js/run_rows.js), in a real browser:
runs of three tokenizers switch its best val loss column to bits per character, labelled so;
runs of one tokenizer keep nats per token. (The server's first render: tests/web/test_units.py.)"""

from __future__ import annotations

from browser_helpers import Studio

SYNC = """async (runs) => {
  const { syncRunsTable } = await import('/static/js/run_rows.js');
  const table = document.querySelector('[data-runs-table]');
  syncRunsTable(table, runs);
  const cell = (r) => table.querySelector(`tr[data-run-id="${r.id}"] [data-field="best_val"]`);
  return {
    unit: table.dataset.unit,
    label: table.querySelector('[data-unit-label]').textContent,
    cells: runs.map((r) => cell(r).textContent),
  };
}"""


def _run(run_id: int, tokenizer: str, loss: float, bpc: float) -> dict:
    return {"id": run_id, "name": f"{tokenizer} run", "dataset_id": None, "tokenizer": tokenizer,
            "preset": None, "state": "succeeded", "queue_position": None,
            "cancel_requested": False, "failure_reason": None, "progress": 1, "iter": 100,
            "max_iters": 100, "best_val_loss": loss, "best_val_bpc": bpc,
            "created_at": "2026-01-01T00:00:00Z"}  # fmt: skip


def test_the_runs_table_switches_its_unit_with_the_runs_it_shows(page, studio: Studio):
    page.goto(studio.base + "/")
    mixed = [_run(900_001, "char", 2.25, 3.2461), _run(900_002, "bpe-512", 3.87, 2.9),
             _run(900_003, "gpt2", 5.84, 2.72)]  # fmt: skip
    shown = page.evaluate(SYNC, mixed)
    assert shown == {"unit": "bpc", "label": "bits / char", "cells": ["3.246", "2.900", "2.720"]}
    alone = [_run(900_001, "char", 2.25, 3.2461), _run(900_004, "char", 1.9, 2.741)]
    shown = page.evaluate(SYNC, alone)
    assert shown == {"unit": "loss", "label": "nats / token", "cells": ["2.2500", "1.9000"]}
