// A run's state, failure and live figures on its page, from the API's Run and the newest
// metric point; and which actions are possible in that state.
import { $, field, setState, setText } from "./dom.js";
import { FINISHED, bpc, bytes, duration, loss, number, percent, toneOf } from "./format.js";
import { phaseText } from "./run_phase.js";

const fig = (name) => $(`[data-fig="${name}"]`);

function note(run, preparation) {
  if (run.state === "running" && run.cancel_requested) return "cancelling: writing a checkpoint…";
  // a run that succeeded with a message stopped early (early_stop_patience): say why
  if (run.state === "succeeded" && run.failure_message) return run.failure_message;
  if (run.finished_at && FINISHED.has(run.state)) return `finished ${new Date(run.finished_at).toLocaleString()}`;
  return phaseText(run, preparation);
}

/** `preparation`: the one a preparing run waits for (its progress is shown). */
export function showRun(run, preparation = null) {
  setState(field(document, "state"), run.state);
  setText(field(document, "state_note"), note(run, preparation));
  const failure = $("[data-failure]");
  failure.hidden = !run.failure_reason;
  setText(field(failure, "failure_reason"), run.failure_reason ? `Failed: ${run.failure_reason.replace("_", " ")}` : "");
  setText(field(failure, "failure_message"), run.failure_message || "");

  setText(fig("iter"), number(run.iter));
  setText(fig("max_iters"), number(run.max_iters));
  setText(fig("progress"), percent(run.progress));
  const bar = fig("progress_bar");
  bar.value = run.progress;
  bar.dataset.tone = toneOf(run.state);
  setText(fig("eta"), run.state === "running" ? duration(run.eta_s) : "—");
  showBudget(run);
  if (run.tokens_per_sec != null) setText(fig("tokens_per_sec"), number(Math.round(run.tokens_per_sec)));
  if (run.mfu != null) setText(fig("mfu"), `${(run.mfu * 100).toFixed(1)}%`);
  setText(fig("device"), run.device || "—");
  setText(fig("compile"), run.compile || "—");
  setText(fig("attempts"), number(run.attempts));
  showBest(run.best_val_loss, run.best_val_bpc);

  const finished = FINISHED.has(run.state);
  $('[data-action="cancel"]').disabled = finished;
  $('[data-action="resume"]').disabled = !finished;
  $('[data-action="delete"]').disabled = !finished;
}

// The best val loss in both units, lowest first seen: the run's, or an evaluation newer
// than the last poll. Both figures are of the same evaluation (a run's bits per character
// are its nats per token times a constant), so they always agree.
let best = { loss: null, bpc: null };

function showBest(valLoss, valBpc) {
  if (valLoss == null) return;
  if (best.loss == null || valLoss <= best.loss) best = { loss: valLoss, bpc: valBpc ?? best.bpc };
  setText(fig("best_val_loss"), loss(best.loss));
  setText(fig("best_val_bpc"), bpc(best.bpc));
}

/** A budget run: its time left against the budget while it runs, the time it took after. */
function showBudget(run) {
  const cell = fig("budget");
  const budget = Number(run.config.tags?.budget_s);
  if (!cell || !budget) return;
  const began = run.started_at ? Date.parse(run.started_at) : null;
  const ended = run.finished_at ? Date.parse(run.finished_at) : Date.now();
  if (began == null) return setText(cell, duration(budget));
  const used = Math.max(0, (ended - began) / 1000);
  const text = run.state === "running" ? `${duration(Math.max(0, budget - used))} left of ${duration(budget)}` : `${duration(used)} of ${duration(budget)}`;
  setText(cell, text);
}

/** The figures a metric point carries, between two polls of the run. */
export function showPoint(point, run) {
  if (point.iter > run.iter) {
    // a step past what the run last said: it trains, whatever phase the poll still reports
    if (run.state === "running" && !run.cancel_requested) setText(field(document, "state_note"), "");
    setText(fig("iter"), number(point.iter));
    const progress = run.max_iters ? Math.min(1, point.iter / run.max_iters) : 0;
    setText(fig("progress"), percent(progress));
    fig("progress_bar").value = progress;
  }
  if (point.tokens_per_sec != null) setText(fig("tokens_per_sec"), number(Math.round(point.tokens_per_sec)));
  if (point.mfu != null) setText(fig("mfu"), `${(point.mfu * 100).toFixed(1)}%`);
  if (point.memory_bytes != null) setText(fig("memory"), bytes(point.memory_bytes));
  showBest(point.val_loss, point.val_bpc);
}
