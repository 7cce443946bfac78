// A run's kept samples (GET …/samples), newest first, under the sampling box: each with the
// seed, checkpoint and options it was made with, and a button that puts them back in the form.
import { api } from "./api.js";
import { el, setText } from "./dom.js";
import { number } from "./format.js";

const PAGE = 20;

/** "seed 42 · ckpt.pt at iteration 300 · temperature 0.8 · top-k 200 · 300 tokens" */
export function describeSample(s) {
  const parts = [`seed ${s.seed}`, `${s.checkpoint}${s.iter != null ? ` at iteration ${number(s.iter)}` : ""}`];
  parts.push(`temperature ${s.temperature}`);
  if (s.top_k != null) parts.push(`top-k ${s.top_k}`);
  if (s.top_p != null) parts.push(`top-p ${s.top_p}`);
  parts.push(`${number(s.max_new_tokens)} tokens`);
  if (s.stop_at_eot) parts.push("up to the end of a document");
  return parts.join(" · ");
}

export class SampleHistory {
  /** `reuse(sample)` fills the form with a sample's prompt, options and seed. */
  constructor(list, empty, moreButton, runId, reuse) {
    this.list = list;
    this.empty = empty;
    this.moreButton = moreButton;
    this.runId = runId;
    this.reuse = reuse;
    this.nextBefore = null;
    this.ids = new Set();
    moreButton.addEventListener("click", () => this.load(this.nextBefore).catch(() => {}));
  }

  async load(before = null) {
    const query = before ? `&before=${before}` : "";
    const page = await api(`/runs/${this.runId}/samples?limit=${PAGE}${query}`);
    for (const sample of page.items) this.add(sample, { atTop: false });
    this.nextBefore = page.next_before;
    this.moreButton.hidden = page.next_before == null;
    this.describe();
  }

  /** A sample just made goes on top; an older page's go below. */
  add(sample, { atTop = true } = {}) {
    if (this.ids.has(sample.id)) return;
    this.ids.add(sample.id);
    const use = el("button", { className: "link-button inline", type: "button", text: "Use these settings" });
    use.addEventListener("click", () => this.reuse(sample));
    const item = el(
      "li",
      { className: "sample-entry", dataset: { sampleId: String(sample.id), seed: String(sample.seed) } },
      el("p", { className: "muted small" }, el("span", { className: "mono", text: describeSample(sample) }), " ", use),
      el("pre", { className: "sample-text", tabindex: "0" }, el("span", { className: "prompt", text: sample.prompt }), sample.completion)
    );
    if (atTop) this.list.prepend(item);
    else this.list.append(item);
    this.describe();
  }

  describe() {
    this.empty.hidden = this.ids.size > 0;
    setText(this.empty, "None yet: each finished sample is kept here with its seed.");
  }
}
