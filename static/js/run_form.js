// The run form: presets from GET /api/v1/presets, every knob read back typed, and as you type
// a dry run of the request the form would send: the server's messages beside their fields
// (every problem at once, and warnings to accept) and its figures for the run (parameters,
// tokens per iteration, memory, epochs: computed there alone); a config file loaded into the
// knobs, and after a start, copy as curl / CLI.
import { api } from "./api.js";
import { copyText } from "./clipboard.js";
import { cliCommand, curlCommand, slug } from "./commands.js";
import { ignoredItems, parseConfigFile, restoreRun } from "./config_loader.js";
import { $, $$, el, pageData, setText } from "./dom.js";
import { DryRun } from "./dry_run.js";
import { clearErrors, clearWarnings, localProblems, showApiError, showFieldError, showFieldWarning, showFormError } from "./field_errors.js";
import { bytes, compact, number } from "./format.js";

const page = pageData();
const form = $("[data-run-form]");
const presetSelect = form.elements.preset;
const acceptWarnings = $("[data-accept-warnings]", form);
const presets = new Map();
// Clone mode posts to /runs/{id}/clone with the changes from that run's config.
let source = page.source;
// The schedule knobs the server derives from max_iters (lr_decay_iters, warmup_iters) while
// the user leaves them alone: left out of the request (but with preset "none"), shown as the
// last dry run derived them.
const derived = new Set(page.derived_knobs);
const typed = new Set(); // the derived knobs the user set (typed in, or a loaded file's)

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

/** What the server applies the request's config over: the clone's source, or the preset; with
 * none, the API's default preset, so "none" sends every knob where nanoGPT's defaults differ. */
function serverBase() {
  return source ? baseConfig() : presetConfig(presetSelect.value || page.default_preset);
}

function changes(config, base) {
  return Object.fromEntries(Object.entries(config).filter(([key, value]) => base[key] !== value));
}

/** Whether the request says a derived knob's value: once the user typed it, and always with
 * preset "none", which is nanoGPT's defaults as shown (the server's base is tiny-cpu). */
const says = (name) => typed.has(name) || (!source && !presetSelect.value);

/** The shown knobs that differ from `base`, but not the derived ones the server (and the CLI)
 * derive from max_iters. */
function edits(base) {
  const config = changes(readConfig(), base);
  for (const name of derived) if (!says(name)) delete config[name];
  return config;
}

/** What a request or a command sets: the edits, and every derived knob it says. */
function userChanges(base) {
  const shown = readConfig();
  const config = edits(base);
  for (const name of derived) if (says(name)) config[name] = shown[name];
  return config;
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
  const config = userChanges(serverBase());
  const name = form.elements.name.value.trim() || undefined;
  const data = {
    dataset_id: Number(form.elements.dataset_id.value),
    val_fraction: valFraction(),
  };
  const devices = readDevices();
  // Warnings not accepted in the box refuse the run (strict), so the form asks first.
  const accepted = warnings.length && acceptWarnings.checked ? {} : { strict: true };
  if (source) {
    const body = { name, config, ...devices, ...accepted };
    for (const [key, value] of Object.entries(data)) if (source[key] !== value) body[key] = value;
    if (source.tokenizer !== tokenizerName()) Object.assign(body, tokenizerFields());
    return [`/runs/${source.id}/clone`, body];
  }
  const budget = form.elements.budget?.value.trim();
  const planned = budget ? { budget: /^\d+(\.\d+)?$/.test(budget) ? Number(budget) : budget } : {};
  return ["/runs", { ...data, ...tokenizerFields(), preset: presetSelect.value || null, config, name, ...devices, ...accepted, ...planned }];
}

/** The figures of the last dry run's plan (the server's: the same code that checks and
 * trains the run), or dashes while there is none: no dataset, or a config with problems. */
function showDerived() {
  const d = dataset();
  const memory = plan?.memory;
  const cell = (name) => $(`[data-derived="${name}"]`);
  for (const name of ["params", "tokens_per_iter", "memory", "epochs"]) {
    setText(cell(name), "—");
    cell(name).title = "";
  }
  showBudget(plan?.budget);
  if (!plan) {
    setText(cell("note"), d ? "The figures follow once the server has checked this config." : "Pick a dataset to see what this run would be.");
    return;
  }
  const approx = plan.data.exact ? "" : "≈ ";
  if (memory) {
    setText(cell("params"), compact(memory.params));
    cell("params").title = `${number(memory.params)} in all; ${number(memory.non_embedding_params)} without position embeddings (nanoGPT's count); vocabulary ${number(memory.vocab_size)}`;
    const device = memory.device ? ` of ${bytes(memory.device.free_bytes)} free on ${memory.device.name}` : "";
    setText(cell("memory"), `≈ ${bytes(memory.estimate_bytes)}${device}`);
    cell("memory").title = `weights, gradients and AdamW state ${bytes(memory.state_bytes)} + activations of one micro-batch ${bytes(memory.activation_bytes)} + the process ${bytes(memory.runtime_bytes)}${memory.device ? "" : "; no train worker has reported its device yet"}`;
  }
  setText(cell("tokens_per_iter"), number(plan.tokens_per_iter));
  const e = plan.budget ? plan.budget.epochs : plan.epochs;
  setText(cell("epochs"), e == null ? "—" : `${approx}${e < 10 ? e.toFixed(2) : number(Math.round(e))}`);
  const tokens = plan.data.train_tokens;
  const vocab = memory ? memory.vocab_size : plan.data.vocab_size;
  const where = `${d ? d.name : `dataset ${plan.dataset_id}`}: ${tokens == null ? "size unknown" : `${approx}${number(tokens)} training tokens`}, vocabulary ${vocab == null ? "unknown" : number(vocab)}`;
  setText(cell("note"), `${where}${plan.data.exact ? "" : " (estimated until prepared)"}. Memory is the memory guard's estimate of the peak, against the free memory of the device a train worker reports; hover a figure for its parts.`);
}

/** A budget run's plan: its expected iterations, tokens per parameter, and why. */
function showBudget(budget) {
  for (const row of document.querySelectorAll("[data-budget-only]")) row.hidden = !budget;
  const reasons = $("[data-budget-reasons]");
  reasons.hidden = !budget;
  reasons.replaceChildren();
  if (!budget) return;
  setText($('[data-derived="expected_iters"]'), `≈ ${number(budget.expected_iters)}`);
  setText($('[data-derived="tokens_per_param"]'), String(budget.tokens_per_param));
  for (const reason of budget.reasons) {
    const item = document.createElement("li");
    item.textContent = reason;
    reasons.append(item);
  }
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
      overrides: userChanges(presetConfig(preset)),
      runName: body.name || `${slug(d.name)}-${preset || "custom"}`,
      budget: body.budget,
    })
  );
}

// What is wrong now: the empty fields (seen here) and the server's answer to the last dry
// run (every problem, or the plan with its warnings and figures), kept until the next
// answer replaces or clears it.
let serverError = null;
let plan = null;
let warnings = [];
const dryRun = new DryRun(request, (answer) => {
  serverError = answer.error ?? null;
  plan = answer.plan ?? null;
  if (plan) showDerivedKnobs(plan.config);
  if (plan) setWarnings(plan.warnings);
  else if (answer.error) setWarnings([]);
  showWaitingFor(plan ? plan.waiting_for : null);
  showDerived();
  showProblems();
});

function showProblems() {
  clearErrors(form);
  const problems = localProblems(readConfig());
  for (const problem of problems) showFieldError(form, problem.field, problem.message, { focus: false });
  const local = new Set(problems.map((p) => p.field));
  if (serverError && serverError.code !== "unaccepted_warnings") {
    showApiError(form, serverError, { focus: false, skip: (name) => local.has(name) });
  }
}

/** Warnings (allowed, but probably not meant) beside their fields and above Start, with the
 * box that accepts them; a new set of warnings must be accepted again. */
function setWarnings(list) {
  const same = JSON.stringify(list) === JSON.stringify(warnings);
  warnings = list;
  clearWarnings(form);
  for (const w of list) showFieldWarning(form, w.field, w.message);
  const panel = $("[data-warnings]", form);
  panel.hidden = list.length === 0;
  if (!same) acceptWarnings.checked = false;
  setText($("[data-warnings-title]", panel), list.length === 1 ? "1 warning" : `${list.length} warnings`);
  $("[data-warnings-list]", panel).replaceChildren(...list.map((w) => el("li", { text: `${w.field}: ${w.message}` })));
}

/** What the run would wait for when no live worker consumes its queue (it still starts). */
function showWaitingFor(waitingFor) {
  const line = $("[data-waiting-for]", form);
  line.hidden = !waitingFor;
  setText(line, waitingFor ? `No live worker can take this run now: it would wait for ${waitingFor}.` : "");
}

/** The derived knobs the user left alone, as the server derived them for this config. */
function showDerivedKnobs(config) {
  for (const knob of page.knobs) {
    if (derived.has(knob.name) && !says(knob.name)) writeKnob(knob, config[knob.name]);
  }
  showCommands();
}

/** The preset's description, and that it has been edited once a knob differs from it. */
function showPresetDescription() {
  const preset = presets.get(presetSelect.value);
  const base = preset ? preset.description : "nanoGPT's train.py defaults: GPT-2 124M on OpenWebText.";
  const edited = Object.keys(edits(baseConfig()));
  const note = edited.length ? ` (edited: ${edited.length > 3 ? `${edited.length} knobs` : edited.join(", ")})` : "";
  setText($("[data-preset-description]"), `${base}${note}`);
}

// Changing max_iters offers to move lr_decay_iters with it (nanoGPT's recipes keep the two
// equal, so the learning rate finishes its decay as the run ends).
function offerToMoveDecay() {
  const slot = $('[data-field-for="max_iters"]', form);
  let offer = $("[data-offer]", slot);
  const maxIters = readKnob({ name: "max_iters", kind: "int" });
  const decay = readKnob({ name: "lr_decay_iters", kind: "int" });
  const wanted = says("lr_decay_iters") && form.elements.decay_lr.checked && Number.isFinite(maxIters) && maxIters > 0 && decay !== maxIters;
  if (!wanted) {
    if (offer) offer.remove();
    return;
  }
  if (!offer) {
    offer = el("p", { className: "offer", dataset: { offer: "" } });
    slot.append(offer);
  }
  const button = el("button", { className: "link-button", type: "button", text: `Set lr_decay_iters to ${maxIters.toLocaleString()} too` });
  button.addEventListener("click", () => {
    form.elements.lr_decay_iters.value = String(maxIters);
    offer.remove();
    refresh();
  });
  offer.replaceChildren(`lr_decay_iters is ${Number.isFinite(decay) ? decay.toLocaleString() : "empty"}. `, button);
}

function refresh({ check = true } = {}) {
  if (!form.elements.dataset_id.value) plan = null; // no dataset: nothing to show figures of
  showDerived();
  showProblems();
  showPresetDescription();
  showCommands();
  if (check && form.elements.dataset_id.value) dryRun.schedule(); // no dataset: nothing to ask
}

function applyPreset() {
  source = null; // a preset chosen by hand: a new run, not a clone
  typed.clear();
  const config = presetConfig(presetSelect.value);
  for (const knob of page.knobs) writeKnob(knob, config[knob.name]);
  $("[data-offer]", form)?.remove();
  refresh();
}

/** A config file's knobs into the form. A nanoGPT file overrides nanoGPT's defaults (its
 * train.py's), so the preset becomes "none"; ours holds every knob. */
async function loadConfig(input) {
  const file = input.files && input.files[0];
  if (!file) return;
  const status = $("[data-load-config-status]", form);
  const list = $("[data-ignored-lines]", form);
  clearErrors(form);
  try {
    const loaded = await parseConfigFile(file);
    source = null; // a loaded config starts a new run
    typed.clear();
    for (const name of derived) if (name in loaded.config) typed.add(name);
    if (loaded.format === "nanogpt") presetSelect.value = "";
    const config = { ...presetConfig(presetSelect.value), ...loaded.config };
    for (const knob of page.knobs) writeKnob(knob, config[knob.name]);
    const restored = restoreRun(form, loaded.run);
    const count = Object.keys(loaded.config).length;
    const ignored = loaded.ignored.length;
    setText(status, `Loaded ${file.name}: ${count} setting${count === 1 ? "" : "s"}${restored ? `; ${restored}` : ""}${ignored ? `; ${ignored} line${ignored === 1 ? "" : "s"} ignored:` : "."}`);
    list.replaceChildren(...ignoredItems(loaded.ignored));
    list.hidden = ignored === 0;
    refresh();
  } catch (error) {
    list.hidden = true;
    if (error.errors) showApiError(form, error, { focus: false });
    else showFormError(form, error.message);
    showFieldError(form, "config", error.message, { focus: false });
  } finally {
    input.value = ""; // the same file can be chosen again after an edit
  }
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
    if (error.code === "unaccepted_warnings") {
      // the checks warned since the last dry run: show them and ask
      setWarnings(error.errors.slice(1).map(({ code, field, message }) => ({ code, field, message })));
      $("[data-warnings]", form).scrollIntoView({ block: "center" });
      acceptWarnings.focus({ preventScroll: true });
    } else {
      serverError = error;
      showApiError(form, error);
    }
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

form.addEventListener("input", (event) => {
  if (event.target.type === "file") return;
  if (event.target === acceptWarnings) return showCommands(); // accepting changes no check
  if (derived.has(event.target.name)) typed.add(event.target.name);
  if (event.target.name === "max_iters" || event.target.name === "lr_decay_iters" || event.target.name === "decay_lr") offerToMoveDecay();
  refresh();
});
form.addEventListener("change", (event) => {
  if (event.target === presetSelect) applyPreset();
  if (event.target === form.elements.tokenizer) $("[data-vocab-size-field]").hidden = event.target.value !== "bpe";
  if (event.target.matches("[data-load-config]")) loadConfig(event.target);
});
form.addEventListener("submit", submit);

refresh({ check: false });
try {
  for (const preset of await api("/presets")) presets.set(preset.name, preset);
  refresh();
} catch (error) {
  setText($("[data-derived='note']"), `Presets could not be loaded: ${error.message}`);
}
