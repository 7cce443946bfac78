// What a run is doing before its first point, in words: tokenizing its dataset (with the
// preparation's progress), waiting in the queue (its place), then, once a worker has it,
// starting, compiling, or the first evaluation.
import { percent } from "./format.js";

const RUNNING = {
  starting: "starting: loading torch and the data…",
  compiling: "compiling the model (torch.compile), then the first evaluation…",
  evaluating: "the first evaluation (iteration 0)…",
  training: "",
};

/** The phase of a waiting or running run; "" once it trains or has finished. */
export function phaseText(run, preparation = null) {
  if (run.state === "preparing") {
    const progress = preparation && preparation.state === "running" ? ` (${percent(preparation.progress)})` : "";
    return `preparing: tokenizing its dataset${progress}…`;
  }
  if (run.state === "queued") {
    // no live worker consumes its queue: what it waits for, before its place
    if (run.waiting_for) return `queued: waits for ${run.waiting_for}`;
    return run.queue_position ? `queued: #${run.queue_position} in the queue` : "queued: waiting for a worker";
  }
  if (run.state === "running") return RUNNING[run.phase || "starting"] ?? "";
  return "";
}

/** The dataset's preparation this run waits for (same tokenizer and split). */
export function preparationOf(dataset, run) {
  return (dataset.preparations || []).find((p) => p.tokenizer === run.tokenizer && p.val_fraction === run.val_fraction) || null;
}
