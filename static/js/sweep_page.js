// A sweep's page: its trials, the best so far and each knob's effect, polled while it runs;
// a link to Compare with the best trials' curves; cancel.
import { api, poll } from "./api.js";
import { $, el, field, setState, setText } from "./dom.js";
import { showEffects } from "./knob_effects.js";

const COMPARE_MAX = 8; // Compare's limit

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
  showEffects($("[data-effects]"), sweep.effects, sweep.space);
  // the best trials first (scored ones by val bpc), then the rest by number
  const ranked = sweep.trials.filter((t) => t.run_id).sort((a, b) => (a.val_bpc ?? Infinity) - (b.val_bpc ?? Infinity) || a.number - b.number);
  const compare = field(document, "compare");
  compare.hidden = ranked.length < 2;
  compare.href = `/compare?${ranked.slice(0, COMPARE_MAX).map((t) => `run=${t.run_id}`).join("&")}`;
  const cancel = $('[data-action="cancel"]');
  if (cancel) cancel.hidden = sweep.state !== "running";
}

poll(async () => show(await api(`/sweeps/${page.id}`)), 2000, () => state === "running");
$('[data-action="cancel"]')?.addEventListener("click", async () => show(await api(`/sweeps/${page.id}/cancel`, { method: "POST" })));
