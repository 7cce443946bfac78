// Keeps a runs table (templates/_partials/runs_table.html) in step with the API's runs:
// known rows are filled in place, new runs get a clone of the row template on top.
import { $, field, setState, setText } from "./dom.js";
import { UNIT_LABELS, bestVal, lossUnit, number, refreshTimes, toneOf } from "./format.js";

function stateNote(run) {
  if (run.queue_position) return `#${run.queue_position} in the queue`;
  if (run.cancel_requested && run.state === "running") return "cancelling…";
  return run.failure_reason || "";
}

export function fillRunRow(row, run, showDataset = true, unit = "loss") {
  row.dataset.runId = run.id;
  const link = field(row, "name");
  link.href = `/runs/${run.id}`;
  setText(link, run.name);
  const parts = [];
  if (showDataset) parts.push(run.dataset_name || (run.dataset_id ? `dataset ${run.dataset_id}` : "deleted dataset"));
  parts.push(run.tokenizer);
  if (run.preset) parts.push(run.preset);
  setText(field(row, "detail"), parts.join(" · "));
  setState(field(row, "state"), run.state);
  setText(field(row, "state_note"), stateNote(run));
  const bar = field(row, "progress");
  bar.value = run.progress;
  bar.dataset.tone = toneOf(run.state);
  setText(field(row, "iters"), `${number(run.iter)} / ${number(run.max_iters)}`);
  setText(field(row, "best_val"), bestVal(run, unit));
  const created = field(row, "created_at");
  if (created.getAttribute("datetime") !== run.created_at) {
    created.setAttribute("datetime", run.created_at);
    refreshTimes(row);
  }
}

/** Update `table` from `runs` (newest first, every run the table shows); `names` maps
 * dataset id → name. The best val loss column takes the unit these runs compare by. */
export function syncRunsTable(table, runs, names = {}) {
  const showDataset = table.dataset.showDataset !== "false";
  const unit = lossUnit(runs);
  table.dataset.unit = unit;
  setText($("[data-unit-label]", table), UNIT_LABELS[unit]);
  const body = $("tbody", table);
  const template = $("template[data-run-row]", table.parentElement);
  const rows = new Map([...body.rows].map((row) => [row.dataset.runId, row]));
  let anchor = null;
  for (const run of runs) {
    const data = { ...run, dataset_name: names[run.dataset_id] ?? run.dataset_name };
    let row = rows.get(String(run.id));
    if (!row) {
      row = template.content.firstElementChild.cloneNode(true);
      if (anchor) anchor.after(row);
      else body.prepend(row);
    }
    fillRunRow(row, data, showDataset, unit);
    anchor = row;
  }
}
