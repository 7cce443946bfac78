// The run page's Evaluate panel: queue an evaluation (POST /runs/{id}/evaluations) on a
// dataset or pasted text, list the run's evaluations with their state and figures, and
// follow the unfinished ones. Self-starting: run_page.js only imports it.
import { api, poll } from "./api.js";
import { $, el, setText, stateBadge } from "./dom.js";
import { clearErrors, showApiError } from "./field_errors.js";
import { number } from "./format.js";

const POLL_MS = 1000;
const UNFINISHED = new Set(["queued", "running"]);

function figure(value, digits) {
  return value == null ? "—" : value.toFixed(digits);
}

class EvaluationPanel {
  constructor(root) {
    this.root = root;
    this.runId = Number(root.dataset.runId);
    this.form = $("[data-evaluation-form]", root);
    this.table = $("[data-evaluation-list]", root);
    this.empty = $("[data-evaluation-empty]", root);
    this.status = $("[data-evaluation-status]", root);
    this.list = [];
    this.stopPolling = null;
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.create();
    });
  }

  body() {
    const { dataset_id: dataset, text, checkpoint } = this.form.elements;
    const body = { checkpoint: checkpoint.value };
    if (dataset.value) body.dataset_id = Number(dataset.value);
    if (text.value || !dataset.value) body.text = text.value;
    return body;
  }

  async create() {
    clearErrors(this.form);
    const button = $("[data-evaluation-go]", this.form);
    button.disabled = true;
    try {
      const made = await api(`/runs/${this.runId}/evaluations`, { method: "POST", body: this.body() });
      setText(this.status, `Evaluation ${made.id} queued.`);
      this.show([made, ...this.list.filter((e) => e.id !== made.id)]);
      this.follow();
    } catch (error) {
      showApiError(this.form, error);
      setText(this.status, "");
    } finally {
      button.disabled = false;
    }
  }

  async refresh() {
    this.show(await api(`/runs/${this.runId}/evaluations`));
    if (!this.list.some((e) => UNFINISHED.has(e.state))) setText(this.status, "");
  }

  /** Poll while any evaluation is unfinished. */
  follow() {
    if (this.stopPolling) return;
    this.stopPolling = poll(
      () => this.refresh(),
      POLL_MS,
      () => {
        const going = this.list.some((e) => UNFINISHED.has(e.state));
        if (!going) this.stopPolling = null;
        return going;
      }
    );
  }

  show(list) {
    this.list = list;
    $("tbody", this.table).replaceChildren(...list.map((e) => this.row(e)));
    this.table.closest(".table-wrap").hidden = list.length === 0;
    this.empty.hidden = list.length > 0;
  }

  row(e) {
    const state = el("td", {}, stateBadge(e.state));
    if (e.state === "running") {
      state.append(el("span", { className: "sub", text: `${Math.round(e.progress * 100)}%` }));
    }
    if (e.state === "failed" && e.failure_message) {
      state.append(el("span", { className: "sub", text: e.failure_message }));
    }
    const source = e.dataset_id == null ? "pasted text" : e.dataset_name || `dataset ${e.dataset_id}`;
    return el(
      "tr",
      { dataset: { evaluationId: String(e.id), state: e.state } },
      el("td", { text: source }),
      el("td", { className: "mono", text: e.checkpoint === "best" ? "best.pt" : "ckpt.pt" }),
      state,
      el("td", { className: "num", text: e.iter == null ? "—" : number(e.iter) }),
      el("td", { className: "num mono", text: figure(e.bits_per_char, 4) }),
      el("td", { className: "num mono", text: figure(e.loss, 4) }),
      el("td", { className: "num mono", text: figure(e.perplexity, 3) }),
      el("td", { className: "num", text: e.tokens == null ? "—" : number(e.tokens) })
    );
  }
}

const root = $("[data-evaluations]");
if (root) {
  const panel = new EvaluationPanel(root);
  panel
    .refresh()
    .then(() => panel.follow())
    .catch((error) => setText(panel.status, `The evaluations could not be loaded: ${error.message}`));
}
