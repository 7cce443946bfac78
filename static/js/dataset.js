// A dataset: prepare it with a tokenizer and split, watch the preparation, delete it.
// While the file is still being read (a large upload), poll and reload when it is ready.
import { api, poll } from "./api.js";
import { $, el, field, pageData, setState, stateBadge } from "./dom.js";
import { clearErrors, showApiError } from "./field_errors.js";
import { FINISHED, compact, number, refreshTimes, toneOf } from "./format.js";
import { syncRunsTable } from "./run_rows.js";

const dataset = pageData();
const form = $("[data-prepare-form]");
const table = $("[data-preparations]");
const ACTIVE = new Set(["queued", "running"]);
let stopPolling = null;

function preparationRow(prep) {
  const state = stateBadge(prep.state);
  const cell = el("td", {}, state);
  if (ACTIVE.has(prep.state)) {
    cell.append(
      el("progress", {
        className: "bar",
        max: "1",
        value: String(prep.progress),
        "aria-label": `${prep.tokenizer} preparation progress`,
        dataset: { tone: toneOf(prep.state) },
      })
    );
  }
  if (prep.error) cell.append(el("span", { className: "sub", text: prep.error }));
  return el(
    "tr",
    {},
    el("td", {}, el("strong", { text: prep.tokenizer }), el("span", { className: "sub", text: heldOut(prep) })),
    cell,
    el(
      "td",
      { className: "num", title: `${number(prep.train_tokens)} train, ${number(prep.val_tokens)} validation` },
      compact(prep.train_tokens),
      el("span", { className: "sub", text: `${compact(prep.val_tokens)} val` })
    ),
    el("td", { className: "num", text: number(prep.vocab_size) }),
    el("td", { className: "num", text: tokensPerCharacter(prep) })
  );
}

// How val was held out: whole documents (spread over the corpus) or the end of the text.
const SPLITS = { documents: "whole documents", tail: "the end of the text" };
function heldOut(prep) {
  const how = SPLITS[prep.split];
  return `validation ${prep.val_fraction}${how ? ` · ${how}` : ""}`;
}

// What one token is worth in text: 1 for characters, less for a BPE (the val split's exact
// figure turns a run's loss into bits per character; this is both splits').
function tokensPerCharacter(prep) {
  if (prep.train_tokens == null || !dataset.characters) return "—";
  return ((prep.train_tokens + prep.val_tokens) / dataset.characters).toFixed(3);
}

// The vocabulary size is asked for only when a BPE is to be trained.
const vocabField = $("[data-vocab-size-field]");
function showVocabField() {
  vocabField.hidden = form.elements.tokenizer.value !== "bpe";
}
form.addEventListener("change", showVocabField);
showVocabField();

function prepareBody() {
  const body = { tokenizer: form.elements.tokenizer.value, val_fraction: Number(form.elements.val_fraction.value) };
  if (body.tokenizer === "bpe") body.vocab_size = Number(form.elements.vocab_size.value);
  return body;
}

function render(data) {
  $("tbody", table).replaceChildren(...data.preparations.map(preparationRow));
  table.closest(".table-wrap").hidden = data.preparations.length === 0;
  $("[data-preparations-empty]").hidden = data.preparations.length > 0;
  setState(field(document, "state"), data.state);
  const progress = $('[data-inspecting] [data-field="progress"]');
  if (progress) progress.value = data.progress;
}

const busy = (data) => data.state === "inspecting" || data.preparations.some((p) => ACTIVE.has(p.state));

function watch() {
  if (stopPolling) stopPolling();
  let last = dataset;
  stopPolling = poll(
    async () => {
      const data = await api(`/datasets/${dataset.id}`);
      if (last.state === "inspecting" && data.state !== "inspecting") location.reload();
      last = data;
      render(data);
    },
    1000,
    () => busy(last)
  );
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors(form);
  const button = $('button[type="submit"]', form);
  button.disabled = true;
  try {
    await api(`/datasets/${dataset.id}/prepare`, {
      method: "POST",
      body: prepareBody(),
    });
    watch();
  } catch (error) {
    showApiError(form, error);
  } finally {
    button.disabled = false;
  }
});

$('[data-action="delete"]').addEventListener("click", async () => {
  if (!confirm(`Delete “${dataset.name}” and its prepared data? Finished runs keep their checkpoints.`)) return;
  const slot = $("[data-delete-error]");
  try {
    await api(`/datasets/${dataset.id}`, { method: "DELETE" });
    location.assign("/");
  } catch (error) {
    slot.textContent = error.message;
    slot.hidden = false;
  }
});

render(dataset);
refreshTimes();
if (busy(dataset)) watch();

const runsTable = $("[data-runs-table]");
if (runsTable) {
  let active = true;
  poll(
    async () => {
      const { items } = await api(`/runs?dataset_id=${dataset.id}&limit=100`);
      syncRunsTable(runsTable, items);
      active = items.some((r) => !FINISHED.has(r.state));
    },
    3000,
    () => active
  );
}
