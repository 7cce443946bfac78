// Compare: each picked run's curves (its downsampled history, then live points for runs
// still going) on one chart, one colour a run (the same swatches as the table); val loss,
// train loss or both, every series smoothed alike. Ticking a run redraws the page's main
// column in place (the server renders it, differences included) and updates the address,
// so there is no reload; at most MAX_RUNS can be ticked.
import { api } from "./api.js";
import { ChartHost, axis, cssVar, iterValue, lossScale, lossValue, xAxis } from "./chart_base.js";
import { $, $$, pageData, setText } from "./dom.js";
import { FINISHED, number } from "./format.js";
import { MetricStore } from "./metric_store.js";
import { smooth } from "./smoothing.js";
import { follow } from "./sse.js";

const POINTS = 1500;
const MAX_RUNS = 8;
// Browsers give a host six HTTP/1.1 connections: at most this many live streams at once;
// other running runs are read again every REREAD_MS instead.
const MAX_STREAMS = 3;
const REREAD_MS = 10_000;
const DRAW_MS = 500;

const form = $("[data-compare-form]");
const note = $("[data-compare-note]");
let view = null; // the chart and streams of the runs shown now

/** One x column (every iteration any run has) and each run's values on it. */
export function align(lists) {
  const xs = [...new Set(lists.flatMap((points) => points.map((p) => p.iter)))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const column = (points, key) => {
    const out = new Array(xs.length).fill(null);
    for (const p of points) if (p[key] != null) out[index.get(p.iter)] = p[key];
    return out;
  };
  return { xs, column };
}

/** uPlot series and data for the runs' stores: `show` is val, train or both; `inBits` draws
 * val loss in bits per character (train loss has no per-character figure: val only). */
export function buildSeries(runs, stores, show, weight, inBits = false) {
  if (inBits) show = "val";
  const { xs, column } = align(stores.map((s) => s.points));
  const series = [{ label: "iteration", value: iterValue }];
  const data = [xs];
  runs.forEach((run, i) => {
    const colour = cssVar(`--series-${(i % 8) + 1}`);
    const points = stores[i].points;
    if (show !== "train") {
      series.push({ label: `${run.name} · val`, scale: "loss", stroke: colour, width: 2, spanGaps: true, value: lossValue, points: { show: true, size: 5, fill: colour, stroke: colour } });
      data.push(smooth(column(points, inBits ? "val_bpc" : "val_loss"), weight));
    }
    if (show !== "val") {
      series.push({ label: `${run.name} · train`, scale: "loss", stroke: colour, width: 1, dash: show === "both" ? [4, 3] : undefined, spanGaps: true, value: lossValue, points: { show: false } });
      data.push(smooth(column(points, "train_loss"), weight));
    }
  });
  return { series, data };
}

class CompareView {
  constructor(runs) {
    this.runs = runs;
    this.stores = runs.map(() => new MetricStore());
    this.streams = [];
    this.timers = [];
    this.drawTimer = null;
    this.closed = false;
    this.status = $("[data-chart-status]");
    this.seriesSelect = $("[data-compare-series]");
    // nats per token, or bits per character (the page picks it when the tokenizers differ)
    this.unitSelect = $("[data-compare-unit]");
    this.smoothing = $("[data-smoothing]");
    this.logScale = $("[data-log-scale]");
    this.current = { series: [], data: [[]] };
    this.host = new ChartHost(
      $("[data-chart]"),
      () => ({
        series: this.current.series,
        axes: [xAxis("iter"), axis({ scale: "loss", label: this.inBits() ? "val bits / char" : "loss", size: 56 })],
        scales: { x: { time: false }, loss: lossScale(this.logScale.checked) },
        legend: { live: true },
        cursor: { drag: { x: true, y: false } },
      }),
      () => this.current.data
    );
    this.seriesSelect.addEventListener("change", () => this.redraw());
    this.unitSelect?.addEventListener("change", () => this.redraw());
    this.logScale.addEventListener("change", () => this.redraw());
    this.smoothing.addEventListener("input", () => {
      setText($("[data-smoothing-value]"), Number(this.smoothing.value).toFixed(2));
      this.update();
    });
  }

  inBits() {
    return this.unitSelect?.value === "bpc";
  }

  build() {
    return buildSeries(this.runs, this.stores, this.seriesSelect.value, Number(this.smoothing.value), this.inBits());
  }

  redraw() {
    this.current = this.build();
    this.host.rebuild();
  }

  update() {
    this.current = this.build();
    this.host.update();
  }

  drawSoon() {
    if (!this.drawTimer) {
      this.drawTimer = setTimeout(() => {
        this.drawTimer = null;
        if (!this.closed) {
          this.update();
          this.describe();
        }
      }, DRAW_MS);
    }
  }

  describe() {
    const points = this.stores.reduce((n, s) => n + s.size, 0);
    const live = this.streams.length ? ` · following ${this.streams.length} live` : "";
    const thinned = this.thinned ? " (long histories thinned)" : "";
    setText(this.status, `${this.runs.length} runs · ${number(points)} points${thinned}${live}. Drag to zoom, double-click to reset.`);
  }

  async load() {
    const histories = await Promise.all(this.runs.map((r) => api(`/runs/${r.id}/metrics?points=${POINTS}`)));
    if (this.closed) return;
    histories.forEach((h, i) => h.points.forEach((p) => this.stores[i].add(p)));
    this.thinned = histories.some((h) => h.downsampled);
    let streams = 0;
    this.runs.forEach((run, i) => {
      if (FINISHED.has(run.state)) return;
      if (streams++ < MAX_STREAMS) this.followLive(i);
      else this.rereadEvery(i);
    });
    this.redraw();
    this.describe();
  }

  followLive(i) {
    const store = this.stores[i];
    const stream = follow(`/api/v1/runs/${this.runs[i].id}/metrics/stream`, {
      after: store.maxId,
      handlers: {
        metric: (point) => {
          store.add(point);
          this.drawSoon();
        },
        done: () => {
          stream.close();
          this.streams = this.streams.filter((s) => s !== stream);
          this.drawSoon();
        },
      },
    });
    this.streams.push(stream);
  }

  rereadEvery(i) {
    const timer = setInterval(async () => {
      const history = await api(`/runs/${this.runs[i].id}/metrics?points=${POINTS}`).catch(() => null);
      if (!history || this.closed) return;
      for (const p of history.points) this.stores[i].add(p);
      this.drawSoon();
    }, REREAD_MS);
    this.timers.push(timer);
  }

  close() {
    this.closed = true;
    for (const stream of this.streams) stream.close();
    for (const timer of this.timers) clearInterval(timer);
    clearTimeout(this.drawTimer);
    this.host.destroy();
  }
}

function show(runs) {
  if (view) view.close();
  view = null;
  if (runs && runs.length && $("[data-chart]")) {
    view = new CompareView(runs);
    view.load().catch((error) => setText($("[data-chart-status]"), `The histories could not be loaded: ${error.message}`));
  }
}

const boxes = () => $$('input[name="run"]', form);
const pickedIds = () => boxes().filter((b) => b.checked).map((b) => b.value);

/** At most MAX_RUNS: the other boxes wait until one is unticked. */
function keepToLimit() {
  const checked = pickedIds().length;
  for (const box of boxes()) box.disabled = !box.checked && checked >= MAX_RUNS;
  setText(note, checked >= MAX_RUNS ? `${MAX_RUNS} runs picked: untick one to pick another.` : `Up to ${MAX_RUNS} runs; the chart follows as you tick.`);
}

/** The main column for these runs, rendered by the server, put in place of the current one. */
async function select(ids, { push = true } = {}) {
  const query = ids.map((id) => `run=${encodeURIComponent(id)}`).join("&");
  const url = `/compare${query ? `?${query}` : ""}`;
  const response = await fetch(url, { headers: { Accept: "text/html" } });
  if (!response.ok) throw new Error(`the server answered ${response.status}`);
  const doc = new DOMParser().parseFromString(await response.text(), "text/html");
  const main = $("[data-compare-main]", doc);
  if (!main) throw new Error("the page came back without its chart");
  if (push) history.pushState({ ids }, "", url);
  if (view) view.close();
  view = null;
  $("[data-compare-main]").replaceWith(document.adoptNode(main));
  const data = doc.getElementById("page-data");
  show(data ? JSON.parse(data.textContent) : []);
}

function reselect(ids, options) {
  select(ids, options).catch((error) => setText(note, `The comparison could not be updated: ${error.message}`));
}

form.addEventListener("change", () => {
  keepToLimit();
  reselect(pickedIds());
});
form.addEventListener("submit", (event) => {
  event.preventDefault();
  reselect(pickedIds());
});
window.addEventListener("popstate", () => {
  const ids = new URLSearchParams(location.search).getAll("run");
  for (const box of boxes()) box.checked = ids.includes(box.value);
  keepToLimit();
  reselect(ids, { push: false });
});

keepToLimit();
show(pageData());
