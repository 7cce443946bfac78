// Compare: each picked run's curves (from its downsampled history) on one chart, one colour
// a run (the same swatches as the table); val loss, train loss (smoothed) or both.
import { api } from "./api.js";
import { ChartHost, axis, cssVar, iterValue, lossScale, lossValue } from "./chart_base.js";
import { $, pageData, setText } from "./dom.js";
import { number } from "./format.js";
import { smooth } from "./smoothing.js";

const POINTS = 1500;
const runs = pageData();
const status = $("[data-chart-status]");
const seriesSelect = $("[data-compare-series]");
const smoothing = $("[data-smoothing]");
const logScale = $("[data-log-scale]");
let histories = [];

/** One x column (every iteration any run has) and each run's values on it. */
function align(lists) {
  const xs = [...new Set(lists.flatMap((points) => points.map((p) => p.iter)))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const column = (points, key) => {
    const out = new Array(xs.length).fill(null);
    for (const p of points) if (p[key] != null) out[index.get(p.iter)] = p[key];
    return out;
  };
  return { xs, column };
}

// Val loss in nats per token, or in bits per character (the page picks it when the runs'
// tokenizers differ). Train loss has no per-character figure: bits per character show val only.
const unitSelect = $("[data-compare-unit]");
const inBits = () => unitSelect.value === "bpc";

function build() {
  const show = inBits() ? "val" : seriesSelect.value;
  const { xs, column } = align(histories.map((h) => h.points));
  const series = [{ label: "iteration", value: iterValue }];
  const data = [xs];
  histories.forEach((history, i) => {
    const colour = cssVar(`--series-${(i % 8) + 1}`);
    const name = runs[i].name;
    if (show !== "train") {
      series.push({ label: `${name} · val`, scale: "loss", stroke: colour, width: 2, spanGaps: true, value: lossValue, points: { show: true, size: 5, fill: colour, stroke: colour } });
      data.push(column(history.points, inBits() ? "val_bpc" : "val_loss"));
    }
    if (show !== "val") {
      series.push({ label: `${name} · train`, scale: "loss", stroke: colour, width: 1, dash: show === "both" ? [4, 3] : undefined, spanGaps: true, value: lossValue, points: { show: false } });
      data.push(smooth(column(history.points, "train_loss"), Number(smoothing.value)));
    }
  });
  return { series, data };
}

let current = { series: [], data: [[]] };
const host = new ChartHost(
  $("[data-chart]"),
  () => ({
    series: current.series,
    axes: [axis({ label: "iteration" }), axis({ scale: "loss", label: inBits() ? "val bits / char" : "loss", size: 56 })],
    scales: { x: { time: false }, loss: lossScale(logScale.checked) },
    legend: { live: true },
    cursor: { drag: { x: true, y: false } },
  }),
  () => current.data
);

function redraw() {
  current = build();
  host.rebuild();
}

async function load() {
  histories = await Promise.all(runs.map((r) => api(`/runs/${r.id}/metrics?points=${POINTS}`)));
  const points = histories.reduce((n, h) => n + h.points.length, 0);
  setText(status, `${runs.length} runs · ${number(points)} points${histories.some((h) => h.downsampled) ? " (long histories thinned)" : ""}. Drag to zoom, double-click to reset.`);
  redraw();
}

if (runs.length) {
  seriesSelect.addEventListener("change", redraw);
  unitSelect.addEventListener("change", redraw);
  logScale.addEventListener("change", redraw);
  smoothing.addEventListener("input", () => {
    setText($("[data-smoothing-value]"), Number(smoothing.value).toFixed(2));
    current = build();
    host.update();
  });
  load().catch((error) => setText(status, `The histories could not be loaded: ${error.message}`));
}

// At most a handful of runs: keep the boxes honest about it.
const form = $("[data-compare-form]");
form.addEventListener("change", () => {
  const boxes = [...form.querySelectorAll('input[name="run"]')];
  const checked = boxes.filter((b) => b.checked).length;
  for (const box of boxes) box.disabled = !box.checked && checked >= 8;
});
