// The run page's Export panel: queue an export (POST /runs/{id}/exports), list the run's
// exports with their state, follow the unfinished ones until they are ready or failed, and
// offer each ready archive's download. Self-starting: run_page.js only imports it.
import { $, el } from "./dom.js";
import { JobPanel } from "./job_panel.js";
import { bytes, number } from "./format.js";

const FORMATS = {
  hf: "Hugging Face",
  safetensors: "safetensors",
  nanogpt: "nanoGPT",
  gguf: "GGUF (f32)",
  "gguf-f16": "GGUF (f16)",
  "gguf-q8_0": "GGUF (q8_0)",
};

class ExportPanel extends JobPanel {
  constructor(root) {
    super(root, "exports", "export", "Export");
  }

  body() {
    return { format: this.form.elements.format.value, checkpoint: this.form.elements.checkpoint.value };
  }

  row(e) {
    const state = this.stateCell(e);
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
if (root) new ExportPanel(root).start();
