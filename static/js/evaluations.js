// The run page's Evaluate panel: queue an evaluation (POST /runs/{id}/evaluations) on a
// dataset or pasted text, list the run's evaluations with their state and figures, and
// follow the unfinished ones. Self-starting: run_page.js only imports it.
import { $, el } from "./dom.js";
import { JobPanel } from "./job_panel.js";
import { number } from "./format.js";

function figure(value, digits) {
  return value == null ? "—" : value.toFixed(digits);
}

class EvaluationPanel extends JobPanel {
  constructor(root) {
    super(root, "evaluations", "evaluation", "Evaluation");
  }

  body() {
    const { dataset_id: dataset, text, checkpoint } = this.form.elements;
    const body = { checkpoint: checkpoint.value };
    if (dataset.value) body.dataset_id = Number(dataset.value);
    if (text.value || !dataset.value) body.text = text.value;
    return body;
  }

  row(e) {
    const state = this.stateCell(e, true);
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
if (root) new EvaluationPanel(root).start();
