// A run's checkpoints with download links; the sampling form offers the ones that exist.
import { API, api } from "./api.js";
import { $, el } from "./dom.js";
import { bytes, loss, number } from "./format.js";

const ALIASES = { "ckpt.pt": "latest", "best.pt": "best" };

/** When a run's first checkpoint is written: at its first evaluation after the start. */
export function firstCheckpointIter(config) {
  const { eval_interval: interval, max_iters: maxIters } = config || {};
  return Number.isInteger(interval) && Number.isInteger(maxIters) ? Math.min(interval, maxIters) : null;
}

export class Checkpoints {
  /** `onChange(list)` hears of every refresh (the sampler waits for a checkpoint). */
  constructor(table, empty, select, runId, onChange = () => {}) {
    this.table = table;
    this.empty = empty;
    this.select = select;
    this.runId = runId;
    this.onChange = onChange;
    this.timer = null;
    this.names = new Set();
  }

  async refresh() {
    const list = await api(`/runs/${this.runId}/checkpoints`);
    this.names = new Set(list.map((c) => c.name));
    $("tbody", this.table).replaceChildren(
      ...list.map((c) =>
        el(
          "tr",
          {},
          el("td", { className: "mono" }, c.name, el("span", { className: "sub", text: c.name === "best.pt" ? "best val loss" : "latest" })),
          el("td", { className: "num", text: number(c.iter) }),
          el("td", { className: "num", text: loss(c.val_loss) }),
          el("td", { className: "num", text: bytes(c.size_bytes) }),
          el("td", { className: "num" }, el("a", { href: `${API}/runs/${this.runId}/checkpoints/${encodeURIComponent(c.name)}`, download: "", text: "Download" }))
        )
      )
    );
    this.table.closest(".table-wrap").hidden = list.length === 0;
    this.empty.hidden = list.length > 0;
    for (const option of this.select.options) {
      const file = Object.keys(ALIASES).find((name) => ALIASES[name] === option.value);
      option.disabled = !this.names.has(file);
    }
    if (this.select.selectedOptions[0]?.disabled) {
      const usable = [...this.select.options].find((o) => !o.disabled);
      if (usable) this.select.value = usable.value;
    }
    this.onChange(list);
    return list;
  }

  /** Refresh a little later (an evaluation may be writing one now). */
  refreshSoon(ms = 1500) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.refresh().catch(() => {});
    }, ms);
  }

  /**
   * After an evaluation at `iter`: its checkpoint is written just after the point is sent,
   * so look again until one of that iteration is listed (a busy machine can take a while),
   * a few times at most (an evaluation that did not improve writes none). A look already
   * pending is kept, not pushed back: evaluations closer together than its delay (a fast
   * machine) would otherwise postpone it for ever.
   */
  expect(iter, tries = 6, ms = 1500) {
    this.expected = Math.max(this.expected ?? 0, iter);
    if (this.timer) return;
    this.timer = setTimeout(async () => {
      this.timer = null;
      const list = await this.refresh().catch(() => null);
      const written = list && list.some((c) => c.iter >= this.expected);
      if (!written && tries > 1) this.expect(this.expected, tries - 1, ms * 1.5);
    }, ms);
  }

  get any() {
    return this.names.size > 0;
  }
}
