// A run page panel of jobs of one kind (exports, evaluations): a form that queues one
// (POST /runs/{id}/<kind>), the run's list of them with their state, followed while any is
// unfinished. A subclass says what the form sends (`body`) and what a row shows (`row`).
import { api, poll } from "./api.js";
import { $, el, setText, stateBadge } from "./dom.js";
import { clearErrors, showApiError } from "./field_errors.js";

const POLL_MS = 1000;
const UNFINISHED = new Set(["queued", "running"]);

export class JobPanel {
  /** `kind`: the path below the run ("exports"); `name`: its data-* stem ("export"). */
  constructor(root, kind, name, label) {
    this.root = root;
    this.kind = kind;
    this.name = name;
    this.label = label;
    this.runId = Number(root.dataset.runId);
    this.form = $(`[data-${name}-form]`, root);
    this.table = $(`[data-${name}-list]`, root);
    this.empty = $(`[data-${name}-empty]`, root);
    this.status = $(`[data-${name}-status]`, root);
    this.list = [];
    this.stopPolling = null;
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.create();
    });
  }

  /** Start: load the list, then follow it; a failure says so in the status line. */
  start() {
    this.refresh()
      .then(() => this.follow())
      .catch((error) => setText(this.status, `The ${this.kind} could not be loaded: ${error.message}`));
  }

  async create() {
    clearErrors(this.form);
    const button = $(`[data-${this.name}-go]`, this.form);
    button.disabled = true;
    try {
      const made = await api(`/runs/${this.runId}/${this.kind}`, { method: "POST", body: this.body() });
      setText(this.status, `${this.label} ${made.id} queued.`);
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
    this.show(await api(`/runs/${this.runId}/${this.kind}`));
    if (!this.list.some((e) => UNFINISHED.has(e.state))) setText(this.status, "");
  }

  /** Poll while any job is unfinished. */
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

  /** A job's state cell: its badge, its progress while running (`withProgress`), why it
   * failed. */
  stateCell(e, withProgress = false) {
    const state = el("td", {}, stateBadge(e.state));
    if (withProgress && e.state === "running") {
      state.append(el("span", { className: "sub", text: `${Math.round(e.progress * 100)}%` }));
    }
    if (e.state === "failed" && e.failure_message) {
      state.append(el("span", { className: "sub", text: e.failure_message }));
    }
    return state;
  }
}
