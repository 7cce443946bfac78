// "Load config" on the run form: the chosen file's text goes to POST /api/v1/configs/parse
// (the CLI's reader: TOML, JSON or nanoGPT's config/*.py, parsed and never run), which
// answers its knobs, typed, and the lines it ignored, each with why.
import { api } from "./api.js";
import { el } from "./dom.js";

const MAX_BYTES = 1_000_000; // the endpoint's limit: config files are a few hundred bytes

/** Parse `file`; resolves {format, config, ignored}, rejects with an ApiError or Error. */
export async function parseConfigFile(file) {
  if (file.size > MAX_BYTES) throw new Error(`${file.name} is ${file.size.toLocaleString()} bytes; a config file is at most 1 MB`);
  const text = await file.text();
  return api("/configs/parse", { method: "POST", body: { filename: file.name, text } });
}

/** The ignored lines as list items: "line 8: wandb_run_name = … (not a literal value)". */
export function ignoredItems(ignored) {
  return ignored.map((line) =>
    el("li", { text: `${line.line ? `line ${line.line}: ` : ""}${line.text}  (${line.why})` })
  );
}

/**
 * Put the run a studio's TOML came from (the parse answer's `run`) back into the form: its
 * name, dataset (when it is still here and ready), tokenizer and validation share. Returns
 * what was restored, in words ("" for none).
 */
export function restoreRun(form, run) {
  if (!run) return "";
  const restored = [];
  const f = form.elements;
  const dataset = [...f.dataset_id.options].find((o) => o.value === String(run.dataset_id) && !o.disabled);
  if (dataset) {
    f.dataset_id.value = dataset.value;
    restored.push("dataset");
  }
  const [kind, vocab] = run.tokenizer.split("-");
  if ([...f.tokenizer.options].some((o) => o.value === kind)) {
    f.tokenizer.value = kind;
    if (vocab) f.vocab_size.value = vocab;
    form.querySelector("[data-vocab-size-field]").hidden = kind !== "bpe";
    restored.push("tokenizer");
  }
  f.val_fraction.value = String(run.val_fraction);
  f.name.value = run.name;
  restored.push("validation share", "name");
  return `${restored.slice(0, -1).join(", ")} and ${restored.at(-1)} restored`;
}
