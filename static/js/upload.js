// Upload: pick or drop files, a folder or an archive; the size limit is checked here before
// sending (and again by the server while it streams); XHR reports the progress, shown per
// file; the API's message is shown. When a JSON/CSV/Parquet file has several text fields, the
// server lists them with their first values and the user picks one.
import { errorFrom, toLogin } from "./api.js";
import { reportDown, reportUp } from "./connection.js";
import { $, el, setText } from "./dom.js";
import { bytes, duration, number } from "./format.js";
import { bindSampleButtons } from "./sample_button.js";

const form = $("[data-upload-form]");
const zone = $("[data-dropzone]");
const fileInput = $("#file");
const folderInput = $("#folder");
const status = $("[data-upload-status]");
const bar = $("[data-upload-progress]");
const figures = $("[data-upload-figures]");
const fileList = $("[data-upload-files]");
const errorBox = $("[data-upload-error]");
const choice = $("[data-field-choice]");
const maxBytes = Number(form.dataset.maxBytes);
// Files listed one by one while they are sent; past this, the rest share one line.
const LISTED = 50;
let current = null;
let lastEntries = [];

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = false;
}

/** Why the browser refuses these files before sending them, or null. `entries`: {file, name}. */
export function refusal(entries, limit) {
  const total = entries.reduce((sum, e) => sum + e.file.size, 0);
  const label = entries.length === 1 ? `“${entries[0].name}”` : `These ${number(entries.length)} files`;
  if (total === 0) return `${label} ${entries.length === 1 ? "is" : "are"} empty: there is nothing to train on.`;
  if (total > limit) {
    const [size, max] = bytes(total) === bytes(limit) ? [`${number(total)} bytes`, `${number(limit)} bytes`] : [bytes(total), bytes(limit)];
    const verb = entries.length === 1 ? "is" : "come to";
    return `${label} ${verb} ${size}, over the limit of ${max} (STUDIO_MAX_UPLOAD_BYTES).`;
  }
  return null;
}

function fileRow(name, size) {
  const progress = el("progress", { className: "bar", max: "1", value: "0", "aria-label": `${name} progress`, dataset: { tone: "busy" } });
  const row = el("li", {}, el("span", { className: "mono small", text: name }), " ", el("span", { className: "muted small", text: bytes(size) }), progress);
  return { row, progress };
}

/** One progress bar per file (the first LISTED), moved from the bytes sent so far. */
function perFileProgress(entries) {
  const rows = entries.slice(0, LISTED).map((e) => fileRow(e.name, e.file.size));
  const rest = entries.slice(LISTED);
  if (rest.length) {
    const size = rest.reduce((sum, e) => sum + e.file.size, 0);
    rows.push(fileRow(`and ${number(rest.length)} more`, size));
  }
  fileList.replaceChildren(...rows.map((r) => r.row));
  const sizes = entries.slice(0, LISTED).map((e) => e.file.size);
  if (rest.length) sizes.push(rest.reduce((sum, e) => sum + e.file.size, 0));
  const sum = sizes.reduce((a, b) => a + b, 0) || 1;
  return (loaded, total) => {
    // the multipart body is the files plus a little framing: scale to the files' bytes
    let sent = (loaded / Math.max(total, 1)) * sum;
    sizes.forEach((size, i) => {
      const done = Math.min(Math.max(sent, 0), size);
      rows[i].progress.value = size ? done / size : sent >= 0 ? 1 : 0;
      if (size && done >= size) rows[i].progress.dataset.tone = "good";
      sent -= size;
    });
  };
}

function options() {
  const f = form.elements;
  const out = { on_bad_record: f.on_bad_record.value, dedup: f.dedup.checked ? "true" : "false" };
  if (f.name.value.trim()) out.name = f.name.value.trim();
  if (f.text_field.value.trim()) out.text_field = f.text_field.value.trim();
  return out;
}

function upload(entries) {
  errorBox.hidden = true;
  choice.hidden = true;
  const problem = refusal(entries, maxBytes);
  if (problem) {
    showError(problem);
    return;
  }
  lastEntries = entries;
  const body = new FormData();
  for (const [key, value] of Object.entries(options())) body.append(key, value);
  for (const entry of entries) body.append("file", entry.file, entry.name);
  const total = entries.reduce((sum, e) => sum + e.file.size, 0);
  const xhr = new XMLHttpRequest();
  current = xhr;
  const started = performance.now();
  setText($("[data-upload-name]"), entries.length === 1 ? entries[0].name : `${number(entries.length)} files`);
  setText($("[data-upload-size]"), bytes(total));
  bar.value = 0;
  bar.dataset.tone = "busy";
  setText(figures, "Starting…");
  const perFile = perFileProgress(entries);
  status.hidden = false;
  zone.hidden = true;

  xhr.upload.addEventListener("progress", (event) => {
    if (!event.lengthComputable) return;
    const fraction = event.loaded / event.total;
    const seconds = (performance.now() - started) / 1000;
    const rate = event.loaded / Math.max(seconds, 1e-3);
    const left = (event.total - event.loaded) / Math.max(rate, 1);
    bar.value = fraction;
    perFile(event.loaded, event.total);
    setText(figures, `${Math.round(fraction * 100)}% · ${bytes(event.loaded)} of ${bytes(event.total)} · ${bytes(rate)}/s · ${duration(left)} left`);
  });
  xhr.upload.addEventListener("load", () => {
    perFile(1, 1);
    setText(figures, "Sent. Reading the documents…");
  });
  xhr.addEventListener("load", () => {
    current = null;
    reportUp();
    let data = null;
    try {
      data = JSON.parse(xhr.responseText);
    } catch {
      /* not JSON */
    }
    if (xhr.status === 401) toLogin();
    if (xhr.status === 201 && data) {
      bar.value = 1;
      bar.dataset.tone = "good";
      setText(figures, "Uploaded. Opening the dataset…");
      location.assign(`/datasets/${data.id}`);
      return;
    }
    reset();
    const error = errorFrom(xhr.status, data);
    if (error.code === "text_field" && error.choices) askForField(error);
    else showError(error.message);
  });
  xhr.addEventListener("error", () => {
    current = null;
    reportDown();
    reset();
    showError("The upload did not reach the server. Check the connection and try again.");
  });
  xhr.addEventListener("abort", () => {
    current = null;
    reset();
  });
  xhr.open("POST", "/api/v1/datasets");
  xhr.setRequestHeader("Accept", "application/json");
  xhr.send(body);
}

/** The server's choices of text field, each with its first values; picking one sends again. */
function askForField(error) {
  setText($("[data-field-choice-why]", choice), error.message);
  const options = error.choices.map((c, i) =>
    el(
      "label",
      { className: "choice" },
      el("input", { type: "radio", name: "field_choice", value: c.value, ...(i === 0 ? { checked: "" } : {}) }),
      " ",
      el("strong", { className: "mono", text: c.value }),
      el("span", { className: "examples" }, ...c.examples.map((text) => el("q", { className: "small", text })))
    )
  );
  $("[data-field-choice-options]", choice).replaceChildren(...options);
  choice.hidden = false;
  $("input", choice).focus();
}

$("[data-field-choice-go]").addEventListener("click", () => {
  const picked = $('input[name="field_choice"]:checked', choice);
  if (!picked) return;
  form.elements.text_field.value = picked.value;
  $("[data-upload-options]").open = true;
  upload(lastEntries);
});

function reset() {
  status.hidden = true;
  zone.hidden = false;
  fileInput.value = "";
  folderInput.value = "";
}

/** Files from an input: a folder's keep their path inside it ("notes/a.md"). */
function fromInput(input) {
  return [...input.files].map((file) => ({ file, name: file.webkitRelativePath || file.name }));
}

fileInput.addEventListener("change", () => {
  if (fileInput.files.length) upload(fromInput(fileInput));
});
folderInput.addEventListener("change", () => {
  if (folderInput.files.length) upload(fromInput(folderInput));
});
$("[data-upload-cancel]").addEventListener("click", () => current && current.abort());
// The whole zone picks files; its two labels pick files or a folder themselves.
zone.addEventListener("click", (event) => {
  if (!event.target.closest("label, input")) fileInput.click();
});

/** Every file under a dropped entry (a folder is read recursively), with its path. */
async function walk(entry) {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    return [{ file, name: entry.fullPath.replace(/^\//, "") }];
  }
  const reader = entry.createReader();
  const found = [];
  for (;;) {
    // readEntries answers in batches (100 in Chromium) until an empty one
    const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
    if (!batch.length) break;
    for (const child of batch) found.push(...(await walk(child)));
  }
  return found;
}

for (const type of ["dragenter", "dragover"]) {
  zone.addEventListener(type, (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
}
for (const type of ["dragleave", "drop"]) {
  zone.addEventListener(type, () => zone.classList.remove("dragging"));
}
zone.addEventListener("drop", async (event) => {
  event.preventDefault();
  const items = [...event.dataTransfer.items].filter((item) => item.kind === "file");
  const entries = items.map((item) => (item.webkitGetAsEntry ? item.webkitGetAsEntry() : null));
  let files;
  if (entries.length && entries.every(Boolean)) {
    try {
      files = (await Promise.all(entries.map(walk))).flat();
    } catch {
      showError("The dropped folder could not be read; choose it with “choose a folder” instead.");
      return;
    }
  } else {
    files = [...event.dataTransfer.files].map((file) => ({ file, name: file.name }));
  }
  if (files.length) upload(files);
});
// A file dropped next to the zone should not make the browser navigate away to it.
window.addEventListener("dragover", (event) => event.preventDefault());
window.addEventListener("drop", (event) => event.preventDefault());

bindSampleButtons();
