// Home: runs, datasets, the queue and the workers, kept current by polling the API.
import { api, poll } from "./api.js";
import { onReconnect } from "./connection.js";
import { $, el, field, setState, setText, stateBadge } from "./dom.js";
import { bytes, compact, number, refreshTimes } from "./format.js";
import { syncRunsTable } from "./run_rows.js";
import { bindSampleButtons } from "./sample_button.js";

const RUNS_MS = 2500;
const SYSTEM_MS = 5000;
const runsTable = $("[data-runs-table]");
const datasetsTable = $("[data-datasets-table]");
const firstPage = !new URLSearchParams(location.search).get("runs_offset");
let datasetNames = {};

async function refreshDatasets() {
  if (!datasetsTable) return;
  const { items } = await api("/datasets?limit=50");
  datasetNames = Object.fromEntries(items.map((d) => [d.id, d.name]));
  for (const dataset of items) {
    const row = $(`tr[data-dataset-id="${dataset.id}"]`, datasetsTable);
    if (!row) continue; // a new upload shows on the next visit; runs matter more live
    setState(field(row, "state"), dataset.state);
    setText(field(row, "detail"), dataset.characters == null ? "being read…" : `${number(dataset.characters)} characters`);
    setText(field(row, "bytes"), bytes(dataset.bytes));
    const preps = field(row, "preparations");
    const badges = dataset.preparations.map((p) => {
      const badge = stateBadge(p.state);
      badge.textContent = p.tokenizer;
      badge.title = `${p.tokenizer}, validation ${p.val_fraction}: ${p.state}`;
      return badge;
    });
    if (badges.length) preps.replaceChildren(...badges.flatMap((b) => [b, " "]));
  }
}

async function refreshRuns() {
  const { items, total } = await api("/runs?limit=50");
  setText($("[data-runs-total]"), number(total));
  if (items.length) {
    const empty = $("[data-runs-empty]");
    if (empty) empty.hidden = true;
    runsTable.closest(".table-wrap").hidden = false;
  }
  syncRunsTable(runsTable, items, datasetNames);
}

function deviceLine(device) {
  const memory = device.memory_total ? ` · ${bytes(device.memory_total)}` : "";
  const cores = device.cores ? ` · ${device.cores} cores` : "";
  return `${device.kind}: ${device.name}${cores}${memory}`;
}

async function refreshSystem() {
  const system = await api("/system");
  const queue = $("[data-queue]");
  queue.replaceChildren(
    ...system.queued_runs.map((q) =>
      el("li", {}, el("a", { href: `/runs/${q.id}`, text: q.name }), " ", stateBadge("queued"))
    )
  );
  queue.hidden = system.queued_runs.length === 0;
  const waiting = Object.entries(system.queues).filter(([, n]) => n > 0);
  setText(
    $("[data-queue-empty]"),
    system.queued_runs.length
      ? waiting.map(([name, n]) => `${name}: ${compact(n)} waiting`).join(" · ")
      : "Nothing is waiting."
  );
  // The broker answers but cannot take jobs (a full disk): say so, and why.
  const problem = $("[data-broker-problem]");
  setText(problem, system.broker_problem ? `Runs cannot start: ${system.broker_problem}.` : "");
  problem.hidden = !system.broker_problem;
  const workers = $("[data-workers]");
  workers.replaceChildren(
    ...system.workers.map((w) =>
      el(
        "li",
        {},
        el("strong", { text: w.queues.join(", ") }),
        el("span", { className: "sub muted", text: ` ${w.name}` }),
        ...w.devices.map((d) => el("div", { className: "muted", text: deviceLine(d) }))
      )
    )
  );
  setText($("[data-workers-empty]"), system.workers.length ? "" : "No worker has reported in. Is `nanogpt-studio serve` (or a worker) running?");
}

bindSampleButtons();
refreshTimes();
setInterval(() => refreshTimes(), 30_000);
if (firstPage) poll(async () => {
  await refreshDatasets();
  await refreshRuns();
}, RUNS_MS);
poll(refreshSystem, SYSTEM_MS);
onReconnect(() => {
  refreshRuns().catch(() => {});
  refreshSystem().catch(() => {});
});
