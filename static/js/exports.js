// The run page's Export panel: queue an export (POST /runs/{id}/exports), list the run's
// exports with their state, follow the unfinished ones until they are ready or failed, and
// offer each ready archive's download. Self-starting: run_page.js only imports it.
import { api, poll } from "./api.js";
import { $, el, setText, stateBadge } from "./dom.js";
import { clearErrors, showApiError } from "./field_errors.js";
import { bytes, number } from "./format.js";

const POLL_MS = 1000;
const UNFINISHED = new Set(["queued", "running"]);
const FORMATS = {
  hf: "Hugging Face",
  safetensors: "safetensors",
  nanogpt: "nanoGPT",
  gguf: "GGUF (f32)",
  "gguf-f16": "GGUF (f16)",
  "gguf-q8_0": "GGUF (q8_0)",
};

class ExportPanel {
  constructor(root) {
    this.root = root;
    this.runId = Number(root.dataset.runId);
    this.form = $("[data-export-form]", root);
    this.table = $("[data-export-list]", root);
    this.empty = $("[data-export-empty]", root);
    this.status = $("[data-export-status]", root);
    this.list = [];
    this.stopPolling = null;
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.create();
    });
  }

  async create() {
    clearErrors(this.form);
    const button = $("[data-export-go]", this.form);
    button.disabled = true;
    const body = { format: this.form.elements.format.value, checkpoint: this.form.elements.checkpoint.value };
    try {
      const made = await api(`/runs/${this.runId}/exports`, { method: "POST", body });
      setText(this.status, `Export ${made.id} queued.`);
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
    this.show(await api(`/runs/${this.runId}/exports`));
    if (!this.list.some((e) => UNFINISHED.has(e.state))) setText(this.status, "");
  }

  /** Poll while any export is unfinished. */
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
    if (e.state === "failed" && e.failure_message) {
      state.append(el("span", { className: "sub", text: e.failure_message }));
    }
    const link = e.file ? el("a", { href: e.file, download: e.file_name, text: "Download" }) : null;
    return el(
      "tr",
      { dataset: { exportId: String(e.id), state: e.state } },
      el("td", { text: FORMATS[e.format] || e.format }),
      el("td", { className: "mono", text: e.checkpoint === "best" ? "best.pt" : "ckpt.pt" }),
      state,
      el("td", { className: "num", text: e.iter == null ? "—" : number(e.iter) }),
      el("td", { className: "num", text: e.size_bytes == null ? "—" : bytes(e.size_bytes) }),
      el("td", { className: "num" }, link)
    );
  }
}

const root = $("[data-exports]");
if (root) {
  const panel = new ExportPanel(root);
  panel
    .refresh()
    .then(() => panel.follow())
    .catch((error) => setText(panel.status, `The exports could not be loaded: ${error.message}`));
}
