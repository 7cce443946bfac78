// A run's page: the whole history (downsampled) first, then live points from the SSE stream;
// state and figures polled while the run is active; log, checkpoints, actions, sampling.
import { api, poll } from "./api.js";
import { Checkpoints } from "./checkpoints.js";
import { onReconnect } from "./connection.js";
import { $, pageData, setText } from "./dom.js";
import { showApiError } from "./field_errors.js";
import { FINISHED, number } from "./format.js";
import { LogView } from "./logs.js";
import { LossChart } from "./loss_chart.js";
import { MetricStore } from "./metric_store.js";
import { showPoint, showRun } from "./run_status.js";
import { bindSampler } from "./sampler.js";
import { follow } from "./sse.js";

const HISTORY_POINTS = 2000;
const POLL_MS = 2000;
const DRAW_MS = 250;

let run = pageData();
const store = new MetricStore();
const chart = new LossChart($("[data-chart]"));
const logs = new LogView($("[data-log]"), $("[data-log-count]"), $("[data-log-earlier]"), run.id);
const checkpoints = new Checkpoints($("[data-checkpoints]"), $("[data-checkpoints-empty]"), $("#checkpoint"), run.id);
const chartStatus = $("[data-chart-status]");
let metrics = null;
let stopPolling = null;
let drawTimer = null;
let total = 0;
let downsampled = false;

function describeChart() {
  const live = metrics ? " · live" : "";
  const thinned = downsampled ? ` (the history thinned from ${number(total)})` : "";
  setText(chartStatus, store.size ? `${number(store.size)} points${thinned}${live}` : `No points yet${live ? ": waiting for the first step" : ""}.`);
}

function draw() {
  drawTimer = null;
  chart.setColumns(store.columns());
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
        if (point.val_loss != null) checkpoints.refreshSoon();
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
  showRun(run);
  if (store.latest) showPoint(store.latest, run);
}

function watch() {
  if (stopPolling) stopPolling();
  stopPolling = poll(refreshRun, POLL_MS, () => !FINISHED.has(run.state));
  followMetrics();
  logs.follow();
}

async function start() {
  showRun(run);
  const history = await api(`/runs/${run.id}/metrics?points=${HISTORY_POINTS}`);
  for (const point of history.points) store.add(point);
  total = history.total;
  downsampled = history.downsampled;
  const lastEvaluated = history.points.findLast((p) => p.val_bpc != null);
  if (lastEvaluated) showPoint(lastEvaluated, run); // its bits per character stay shown
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
    if (options.form) showApiError(options.form, error);
    else {
      actionError.textContent = error.message;
      actionError.hidden = false;
    }
    return false;
  }
}

$('[data-action="cancel"]').addEventListener("click", () => act("/cancel"));
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

bindSampler($("[data-sample-form]"), $("[data-sample-output]"), run.id);
onReconnect(() => refreshRun().catch(() => {}));
checkpoints.refresh().catch(() => {});
start().catch((error) => setText(chartStatus, `The history could not be loaded: ${error.message}`));
