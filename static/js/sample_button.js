// "Try it with Tiny Shakespeare": POST /api/v1/datasets/sample, then open the dataset.
import { api } from "./api.js";
import { $$ } from "./dom.js";

export function bindSampleButtons(root = document) {
  for (const button of $$('[data-action="sample"]', root)) {
    button.addEventListener("click", async () => {
      button.disabled = true;
      const label = button.textContent;
      button.textContent = "Loading Tiny Shakespeare…";
      try {
        const dataset = await api("/datasets/sample", { method: "POST" });
        location.assign(`/datasets/${dataset.id}`);
      } catch (error) {
        button.disabled = false;
        button.textContent = label;
        for (const slot of $$("[data-sample-error]", root)) {
          slot.textContent = error.message;
          slot.hidden = false;
        }
      }
    });
  }
}
