// Upload: drop a file or pick one; the size limit is checked here before sending (and again
// by the server while it streams); XHR reports upload progress; the API's message is shown.
import { errorFrom, toLogin } from "./api.js";
import { reportDown, reportUp } from "./connection.js";
import { $, setText } from "./dom.js";
import { bytes, duration, number } from "./format.js";
import { bindSampleButtons } from "./sample_button.js";

const form = $("[data-upload-form]");
const zone = $("[data-dropzone]");
const input = $("#file");
const status = $("[data-upload-status]");
const bar = $("[data-upload-progress]");
const figures = $("[data-upload-figures]");
const errorBox = $("[data-upload-error]");
const maxBytes = Number(form.dataset.maxBytes);
let current = null;

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = false;
}

/** Why the browser refuses `file` before sending it, or null. */
export function refusal(file, limit) {
  if (file.size === 0) return `“${file.name}” is empty: there is nothing to train on.`;
  if (file.size > limit) {
    const [size, max] = bytes(file.size) === bytes(limit) ? [`${number(file.size)} bytes`, `${number(limit)} bytes`] : [bytes(file.size), bytes(limit)];
    return `“${file.name}” is ${size}, over the limit of ${max} (STUDIO_MAX_UPLOAD_BYTES).`;
  }
  return null;
}

function upload(file) {
  errorBox.hidden = true;
  const problem = refusal(file, maxBytes);
  if (problem) {
    showError(problem);
    return;
  }
  const body = new FormData();
  body.append("file", file, file.name);
  const xhr = new XMLHttpRequest();
  current = xhr;
  const started = performance.now();
  setText($("[data-upload-name]"), file.name);
  setText($("[data-upload-size]"), bytes(file.size));
  bar.value = 0;
  bar.dataset.tone = "busy";
  setText(figures, "Starting…");
  status.hidden = false;
  zone.hidden = true;

  xhr.upload.addEventListener("progress", (event) => {
    if (!event.lengthComputable) return;
    const fraction = event.loaded / event.total;
    const seconds = (performance.now() - started) / 1000;
    const rate = event.loaded / Math.max(seconds, 1e-3);
    const left = (event.total - event.loaded) / Math.max(rate, 1);
    bar.value = fraction;
    setText(figures, `${Math.round(fraction * 100)}% · ${bytes(event.loaded)} of ${bytes(event.total)} · ${bytes(rate)}/s · ${duration(left)} left`);
  });
  xhr.upload.addEventListener("load", () => setText(figures, "Sent. Reading the file…"));
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
    showError(errorFrom(xhr.status, data).message);
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

function reset() {
  status.hidden = true;
  zone.hidden = false;
  input.value = "";
}

input.addEventListener("change", () => {
  if (input.files.length) upload(input.files[0]);
});
$("[data-upload-cancel]").addEventListener("click", () => current && current.abort());

for (const type of ["dragenter", "dragover"]) {
  zone.addEventListener(type, (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
}
for (const type of ["dragleave", "drop"]) {
  zone.addEventListener(type, () => zone.classList.remove("dragging"));
}
zone.addEventListener("drop", (event) => {
  event.preventDefault();
  const files = event.dataTransfer.files;
  if (files.length > 1) showError("One file at a time, please.");
  else if (files.length) upload(files[0]);
});
// A file dropped next to the zone should not make the browser navigate away to it.
window.addEventListener("dragover", (event) => event.preventDefault());
window.addEventListener("drop", (event) => event.preventDefault());

bindSampleButtons();
