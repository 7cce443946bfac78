// A sweep's page: its trials and the best so far, polled while it runs; cancel.
import { api, poll } from "./api.js";
import { $, el, field, setState, setText } from "./dom.js";

const page = JSON.parse($("#page-data").textContent);
let state = page.state;

const bpc = (value) => (value == null ? "—" : value.toFixed(4));

function show(sweep) {
  state = sweep.state;
  setState(field(document, "state"), sweep.state);
  setText(field(document, "summary"), `${sweep.trials.length} of ${sweep.trials_total} trials started, ${sweep.parallel} at a time`);
  const best = sweep.best;
  setText(field(document, "best"), best ? `trial ${best.number}: val bpc ${bpc(best.val_bpc)} with ${JSON.stringify(best.params)}` : "none scored yet");
  const rows = sweep.trials.map((t) => {
    const badge = el("span", { className: "state", text: t.state });
    setState(badge, t.state);
    const link = t.run_id ? el("a", { href: `/runs/${t.run_id}`, text: `run ${t.run_id}` }) : null;
    return el("tr", {}, el("td", { text: String(t.number) }), el("td", {}, link), el("td", { className: "mono", text: JSON.stringify(t.params) }), el("td", {}, badge), el("td", { className: "num", text: bpc(t.val_bpc) }));
  });
  $("[data-trials]").replaceChildren(...rows);
  const cancel = $('[data-action="cancel"]');
  if (cancel) cancel.hidden = sweep.state !== "running";
}

poll(async () => show(await api(`/sweeps/${page.id}`)), 2000, () => state === "running");
$('[data-action="cancel"]')?.addEventListener("click", async () => show(await api(`/sweeps/${page.id}/cancel`, { method: "POST" })));
