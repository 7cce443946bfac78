// The run form: presets from GET /api/v1/presets, every knob read back typed, the derived
// numbers as you type, the server's messages beside their fields as you type (a dry run of
// the request the form would send) and after a start, copy as curl / CLI.
import { api } from "./api.js";
import { copyText } from "./clipboard.js";
import { cliCommand, curlCommand, slug } from "./commands.js";
import {
  GPT2_VOCAB,
  PRETRAINED,
  dataFacts,
  epochs,
  localProblems,
  memoryEstimate,
  modelShape,
  nanoGptCount,
  parameterCount,
  tokensPerIteration,
} from "./derived.js";
import { $, $$, pageData, setText } from "./dom.js";
import { DryRun } from "./dry_run.js";
import { clearErrors, showApiError, showFieldError } from "./field_errors.js";
import { bytes, compact, number } from "./format.js";

const page = pageData();
const form = $("[data-run-form]");
const presetSelect = form.elements.preset;
const presets = new Map();
// Clone mode posts to /runs/{id}/clone with the changes from that run's config.
let source = page.source;

function readKnob({ name, kind }) {
  const input = form.elements.namedItem(name);
  if (kind === "bool") return input.checked;
  const raw = input.value.trim();
  if (kind === "int" || kind === "float") {
    if (raw === "") return null;
    return kind === "int" ? Number.parseInt(raw, 10) : Number(raw);
  }
  if (name === "compile") return raw === "auto" ? "auto" : raw === "true";
  return raw;
}

function writeKnob({ name, kind }, value) {
  const input = form.elements.namedItem(name);
  if (kind === "bool") input.checked = Boolean(value);
  else input.value = value === true ? "true" : value === false ? "false" : String(value ?? "");
}

const readConfig = () => Object.fromEntries(page.knobs.map((k) => [k.name, readKnob(k)]));

/** A preset's full config: the engine's defaults under the preset's values. */
const presetConfig = (name) => ({ ...page.defaults, ...(presets.get(name)?.config ?? {}) });

function baseConfig() {
  return source ? { ...page.defaults, ...source.config } : presetConfig(presetSelect.value);
}

function changes(config, base) {
  return Object.fromEntries(Object.entries(config).filter(([key, value]) => base[key] !== value));
}

const dataset = () => page.datasets.find((d) => String(d.id) === form.elements.dataset_id.value);
const valFraction = () => Number(form.elements.val_fraction.value);

/** gpus ("2" or "0,1") and processes, as the API takes them; left out when empty. */
function readDevices() {
  const out = {};
  const gpus = form.elements.gpus.value.trim();
  if (gpus) out.gpus = gpus.includes(",") ? gpus.split(",").map((g) => Number(g.trim())) : Number(gpus);
  const processes = form.elements.processes.value.trim();
  if (processes) out.processes = Number(processes);
  return out;
}

/** The API's tokenizer fields: a kind, and the vocabulary size of a BPE trained on the text. */
function tokenizerFields() {
  const tokenizer = form.elements.tokenizer.value;
  return tokenizer === "bpe" ? { tokenizer, vocab_size: Number(form.elements.vocab_size.value) } : { tokenizer };
}

/** The tokenizer's name as runs and preparations show it: char, gpt2, bpe-2048. */
function tokenizerName() {
  const { tokenizer, vocab_size } = tokenizerFields();
  return tokenizer === "bpe" ? `bpe-${vocab_size}` : tokenizer;
}

/** [path, body] of the request that starts this run. */
function request() {
  const config = changes(readConfig(), baseConfig());
  const name = form.elements.name.value.trim() || undefined;
  const data = {
    dataset_id: Number(form.elements.dataset_id.value),
    val_fraction: valFraction(),
  };
  const devices = readDevices();
  if (source) {
    const body = { name, config, ...devices };
    for (const [key, value] of Object.entries(data)) if (source[key] !== value) body[key] = value;
    if (source.tokenizer !== tokenizerName()) Object.assign(body, tokenizerFields());
    return [`/runs/${source.id}/clone`, body];
  }
  return ["/runs", { ...data, ...tokenizerFields(), preset: presetSelect.value || null, config, name, ...devices }];
}

function showDerived() {
  const cfg = modelShape(readConfig());
  const d = dataset();
  const facts = dataFacts(d, tokenizerName(), valFraction());
  if (PRETRAINED[cfg.init_from]) facts.vocab = GPT2_VOCAB;
  const ok = (...names) => names.every((n) => Number.isFinite(cfg[n]) && cfg[n] > 0);
  const approx = facts.exact ? "" : "≈ ";
  if (ok("n_layer", "n_embd", "block_size") && facts.vocab) {
    const params = parameterCount(cfg, facts.vocab);
    setText($('[data-derived="params"]'), `${compact(params)}`);
    $('[data-derived="params"]').title = `${number(params)} in all; ${number(nanoGptCount(cfg, facts.vocab))} without position embeddings (nanoGPT's count); vocabulary ${number(facts.vocab)}`;
    const memory = memoryEstimate(cfg, params, facts.vocab);
    setText($('[data-derived="memory"]'), `≈ ${bytes(memory.total)}`);
    $('[data-derived="memory"]').title = `weights, gradients and AdamW state ${bytes(memory.state)} + activations of one micro-batch ${bytes(memory.activations)}`;
  }
  if (ok("batch_size", "block_size", "gradient_accumulation_steps")) {
    setText($('[data-derived="tokens_per_iter"]'), number(tokensPerIteration(cfg)));
    const e = ok("max_iters") ? epochs(cfg, facts.trainTokens) : null;
    setText($('[data-derived="epochs"]'), e == null ? "—" : `${approx}${e < 10 ? e.toFixed(2) : number(Math.round(e))}`);
  }
  const where = d ? `${d.name}: ${facts.trainTokens == null ? "size unknown" : `${approx}${number(facts.trainTokens)} training tokens`}, vocabulary ${facts.vocab == null ? "unknown" : number(facts.vocab)}` : "no dataset";
  setText($('[data-derived="note"]'), `${where}${facts.exact ? "" : " (estimated until prepared)"}. Memory is a rough estimate of the tensors on one device; hover a figure for its parts.`);
}

function showCommands() {
  const [path, body] = request();
  const d = dataset();
  setText($('[data-command="curl"]'), curlCommand(location.origin, path, body));
  if (!d) return;
  const preset = source ? source.preset : presetSelect.value;
  setText(
    $('[data-command="cli"]'),
    cliCommand({
      inputPath: `${page.data_dir}/datasets/${d.id}/input.txt`,
      datasetName: d.name,
      tokenizer: tokenizerName(),
      valFraction: valFraction(),
      preset: preset || null,
      overrides: changes(readConfig(), presetConfig(preset)),
      runName: body.name || `${slug(d.name)}-${preset || "custom"}`,
    })
  );
}

// What is wrong now: the empty fields (seen here) and the server's answer to the last dry
// run, kept until the next answer replaces or clears it.
let serverError = null;
const dryRun = new DryRun(request, ({ error }) => {
  serverError = error ?? null;
  showProblems();
});

function showProblems() {
  clearErrors(form);
  const problems = localProblems(readConfig());
  for (const problem of problems) showFieldError(form, problem.field, problem.message, { focus: false });
  if (serverError && !problems.some((p) => p.field === serverError.field)) {
    showApiError(form, serverError, { focus: false });
  }
}

function refresh({ check = true } = {}) {
  showDerived();
  showProblems();
  showCommands();
  if (check && form.elements.dataset_id.value) dryRun.schedule(); // no dataset: nothing to ask
}

function applyPreset() {
  const preset = presets.get(presetSelect.value);
  source = null; // a preset chosen by hand: a new run, not a clone
  const config = presetConfig(presetSelect.value);
  for (const knob of page.knobs) writeKnob(knob, config[knob.name]);
  setText($("[data-preset-description]"), preset ? preset.description : "nanoGPT's train.py defaults: GPT-2 124M on OpenWebText.");
  refresh();
}

async function submit(event) {
  event.preventDefault();
  dryRun.cancel(); // the real request answers now
  clearErrors(form);
  const problems = localProblems(readConfig());
  if (problems.length) {
    problems.forEach((p) => showFieldError(form, p.field, p.message));
    return;
  }
  const button = $('button[type="submit"]', form);
  button.disabled = true;
  button.textContent = "Starting…";
  try {
    const [path, body] = request();
    const run = await api(path, { method: "POST", body });
    location.assign(`/runs/${run.id}`);
  } catch (error) {
    serverError = error;
    showApiError(form, error);
    button.disabled = false;
    button.textContent = "Start training";
  }
}

for (const button of $$("[data-copy]")) {
  button.addEventListener("click", async () => {
    showCommands();
    const block = $(`[data-command="${button.dataset.copy}"]`);
    const copied = await copyText(block);
    setText($("[data-copy-status]"), copied ? `Copied the ${button.textContent.replace("Copy as ", "")} command.` : "Selected: press Ctrl-C (⌘-C) to copy.");
  });
}

form.addEventListener("input", () => refresh());
form.addEventListener("change", (event) => {
  if (event.target === presetSelect) applyPreset();
  if (event.target === form.elements.tokenizer) $("[data-vocab-size-field]").hidden = event.target.value !== "bpe";
});
form.addEventListener("submit", submit);

refresh({ check: false });
try {
  for (const preset of await api("/presets")) presets.set(preset.name, preset);
  refresh();
} catch (error) {
  setText($("[data-derived='note']"), `Presets could not be loaded: ${error.message}`);
}
