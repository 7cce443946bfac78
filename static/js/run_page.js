// A run's page: the whole history (downsampled) first, then live points from the SSE stream;
// state, phase and figures polled while the run is active; log, checkpoints, actions,
// sampling; the charts' x axis, CSV and PNG.
import { api, poll } from "./api.js";
import { chartPng } from "./chart_png.js";
import { Checkpoints, firstCheckpointIter } from "./checkpoints.js";
import "./evaluations.js";
import "./exports.js";
import { onReconnect } from "./connection.js";
import { $, el, pageData, setText } from "./dom.js";
import { clearErrors, showApiError } from "./field_errors.js";
import { FINISHED, number } from "./format.js";
import { LogView } from "./logs.js";
import { LossChart } from "./loss_chart.js";
import { MetricStore } from "./metric_store.js";
import { phaseText, preparationOf } from "./run_phase.js";
import { showPoint, showRun } from "./run_status.js";
import { bindSampler } from "./sampler.js";
import { SpeedChart } from "./speed_chart.js";
import { follow } from "./sse.js";

const HISTORY_POINTS = 2000;
const POLL_MS = 2000;
const DRAW_MS = 250;

let run = pageData();
let preparation = null; // the one a preparing run waits for
const tokensPerIter = (c) => (c.gradient_accumulation_steps || 1) * c.batch_size * c.block_size || null;
const store = new MetricStore();
const chart = new LossChart($("[data-chart]"), { tokensPerIter: tokensPerIter(run.config) });
const speed = new SpeedChart($("[data-speed-chart]"), { tokensPerIter: tokensPerIter(run.config) });
const logs = new LogView($("[data-log]"), $("[data-log-count]"), $("[data-log-earlier]"), run.id);
const sampler = bindSampler($("[data-sample-form]"), $("[data-sample-output]"), run.id);
const checkpoints = new Checkpoints($("[data-checkpoints]"), $("[data-checkpoints-empty]"), $("#checkpoint"), run.id, (list) => {
  const first = firstCheckpointIter(run.config);
  const when = first ? `the first is written at iteration ${number(first)}` : "the first is written at an evaluation";
  const ended = FINISHED.has(run.state) ? "; this run ended before writing one" : "";
  setText($("[data-checkpoints-empty]"), `None yet: ${when}${ended}.`);
  sampler.setReady(list.length > 0, `Generate needs a checkpoint: ${when}${ended}.`);
});
const chartStatus = $("[data-chart-status]");
let metrics = null;
let stopPolling = null;
let drawTimer = null;
let total = 0;
let downsampled = false;

function describeChart() {
  const live = metrics ? " · live" : "";
  const thinned = downsampled ? ` (the history thinned from ${number(total)})` : "";
  const phase = phaseText(run, preparation);
  setText(chartStatus, store.size ? `${number(store.size)} points${thinned}${live}` : `No points yet${phase ? `: ${phase}` : "."}`);
}

function draw() {
  drawTimer = null;
  const columns = store.columns();
  chart.setColumns(columns);
  speed.setColumns(columns);
  describeChart();
}

const drawSoon = () => {
  if (!drawTimer) drawTimer = setTimeout(draw, DRAW_MS);
};

function followMetrics() {
  if (metrics) metrics.close();
  metrics = follow(`/api/v1/runs/${run.id}/metrics/stream`, {
    after: store.maxId,
    handlers: {
      metric: (point) => {
        store.add(point);
        total += 1;
        showPoint(point, run);
        if (point.val_loss != null && point.iter > 0) checkpoints.expect(point.iter);
        drawSoon();
      },
      done: () => {
        metrics.close();
        metrics = null;
        refreshRun();
        checkpoints.refreshSoon(200);
        draw();
      },
    },
  });
}

async function refreshRun() {
  run = await api(`/runs/${run.id}`);
  preparation = run.state === "preparing" && run.dataset_id ? preparationOf(await api(`/datasets/${run.dataset_id}`), run) : null;
  showRun(run, preparation);
  if (store.latest) showPoint(store.latest, run);
  if (!store.size) describeChart();
}

function watch() {
  if (stopPolling) stopPolling();
  stopPolling = poll(refreshRun, POLL_MS, () => !FINISHED.has(run.state));
  followMetrics();
  logs.follow();
}

async function start() {
  showRun(run);
  if (run.state === "preparing") refreshRun().catch(() => {});
  const history = await api(`/runs/${run.id}/metrics?points=${HISTORY_POINTS}`);
  for (const point of history.points) store.add(point);
  total = history.total;
  downsampled = history.downsampled;
  for (const point of history.points) if (point.val_loss != null) showPoint(point, run); // the best of them stays shown
  if (store.latest) showPoint(store.latest, run);
  draw();
  followMetrics();
  if (!FINISHED.has(run.state)) stopPolling = poll(refreshRun, POLL_MS, () => !FINISHED.has(run.state));
  await logs.load();
  logs.follow();
}

// ---- chart controls ----
const smoothing = $("[data-smoothing]");
smoothing.addEventListener("input", () => {
  setText($("[data-smoothing-value]"), Number(smoothing.value).toFixed(2));
  chart.setSmoothing(Number(smoothing.value));
});
$("[data-log-scale]").addEventListener("change", (e) => chart.setLog(e.target.checked));
$("[data-show-lr]").addEventListener("change", (e) => chart.setShowLr(e.target.checked));
$("[data-x-axis]").addEventListener("change", (e) => {
  chart.setXMode(e.target.value);
  speed.setXMode(e.target.value);
});
$("[data-download-png]").addEventListener("click", async () => {
  const blob = await chartPng(chart.host.plot, `${run.name} (run ${run.id}): loss by ${$("[data-x-axis]").selectedOptions[0].text}`);
  if (!blob) return;
  const link = el("a", { href: URL.createObjectURL(blob), download: `run${run.id}-loss.png` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
});

// ---- actions ----
const actionError = $("[data-action-error]");
const resumeForm = $("[data-resume-form]");

async function act(path, options = {}) {
  actionError.hidden = true;
  try {
    run = await api(`/runs/${run.id}${path}`, { method: "POST", ...options });
    showRun(run);
    return true;
  } catch (error) {
    if (options.form) {
      clearErrors(options.form);
      showApiError(options.form, error);
    } else {
      actionError.textContent = error.message;
      actionError.hidden = false;
    }
    return false;
  }
}

$('[data-action="cancel"]').addEventListener("click", () => {
  const waiting = run.state !== "running";
  const what = waiting ? "It has not started; it will not." : "It stops after writing a checkpoint; Resume goes on from there.";
  if (confirm(`Cancel “${run.name}”? ${what}`)) act("/cancel");
});
$('[data-action="resume"]').addEventListener("click", async () => {
  if (run.iter < run.max_iters) {
    if (await act("/resume")) watch();
    return;
  }
  resumeForm.elements.max_iters.value = run.max_iters * 2;
  resumeForm.hidden = false;
  resumeForm.elements.max_iters.focus();
});
resumeForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = { max_iters: Number.parseInt(resumeForm.elements.max_iters.value, 10) };
  // Sent only when changed: the run keeps its own devices (its GPU list included) otherwise.
  const processes = Number.parseInt(resumeForm.elements.processes.value, 10);
  if (processes !== (run.devices ? run.devices.processes : 1)) body.processes = processes;
  if (await act("/resume", { body, form: resumeForm })) {
    resumeForm.hidden = true;
    watch();
  }
});
$('[data-action="resume-cancel"]').addEventListener("click", () => (resumeForm.hidden = true));
$('[data-action="delete"]').addEventListener("click", async () => {
  if (!confirm(`Delete “${run.name}” with its history and checkpoints?`)) return;
  try {
    await api(`/runs/${run.id}`, { method: "DELETE" });
    location.assign("/");
  } catch (error) {
    actionError.textContent = error.message;
    actionError.hidden = false;
  }
});

// Browsers allow six connections to a host over HTTP/1.1: a tab in the background gives its
// two streams back, and picks up after the last ids it saw when it is shown again.
let paused = false;
document.addEventListener("visibilitychange", () => {
  if (document.hidden && (metrics || logs.stream)) {
    paused = true;
    if (metrics) metrics.close();
    metrics = null;
    logs.stop();
  } else if (!document.hidden && paused) {
    paused = false;
    followMetrics();
    logs.follow();
    refreshRun().catch(() => {});
  }
});

onReconnect(() => refreshRun().catch(() => {}));
checkpoints.refresh().catch(() => {});
start().catch((error) => setText(chartStatus, `The history could not be loaded: ${error.message}`));
