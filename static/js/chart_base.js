// What every chart shares: colours from the stylesheet's variables (so light and dark both
// work), axes, sizing to its container, and rebuilding when the colour scheme changes.
import uPlot from "../vendor/uplot/uPlot.esm.js";

export const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

/** A faint version of a #rrggbb colour, for the raw line behind a smoothed one. */
export const faint = (hex, alpha = "40") => (/^#[0-9a-f]{6}$/i.test(hex) ? hex + alpha : hex);

export const lossValue = (u, v) => (v == null ? "—" : v.toFixed(4));
export const iterValue = (u, v) => (v == null ? "—" : Math.round(v).toLocaleString("en-US"));

// Tick steps an x axis may use: whole numbers only (an iteration or a token is never 1.5),
// and for wall time the steps a clock has.
const WHOLE = [1, 2, 5];
export const WHOLE_INCRS = Array.from({ length: 13 }, (_, e) => WHOLE.map((m) => m * 10 ** e)).flat();
export const SECOND_INCRS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800];

const compactNumber = (v) => {
  const abs = Math.abs(v);
  for (const [size, unit] of [[1e12, "T"], [1e9, "B"], [1e6, "M"], [1e3, "k"]]) {
    if (abs >= size) return `${+(v / size).toFixed(abs / size >= 100 ? 0 : 1)}${unit}`;
  }
  return String(Math.round(v));
};

const clock = (seconds) => {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
};

/** What the x axis counts: its label, tick steps, tick text and readout. */
export const X_MODES = {
  iter: { label: "iteration", incrs: WHOLE_INCRS, tick: (v) => Math.round(v).toLocaleString("en-US"), value: iterValue },
  tokens: { label: "tokens seen", incrs: WHOLE_INCRS, tick: compactNumber, value: (u, v) => (v == null ? "—" : Math.round(v).toLocaleString("en-US")) },
  time: { label: "wall time (h:mm:ss)", incrs: SECOND_INCRS, tick: clock, value: (u, v) => (v == null ? "—" : clock(v)) },
};

/** The x axis for a mode: whole-number ticks, labelled as the mode reads. */
export function xAxis(mode) {
  const m = X_MODES[mode] || X_MODES.iter;
  return axis({ label: m.label, incrs: m.incrs, values: (u, vals) => vals.map((v) => (v == null ? "" : m.tick(v))) });
}

/**
 * The x column for a mode from a store's columns: iterations; iterations × tokens per
 * iteration; or seconds since the first point (kept from going backwards, as uPlot needs).
 */
export function xColumn(columns, mode, tokensPerIter) {
  if (mode === "tokens" && tokensPerIter) return columns.x.map((it) => it * tokensPerIter);
  if (mode === "time" && columns.logged.length) {
    const start = columns.logged[0];
    let last = 0;
    return columns.logged.map((t) => (last = Math.max(last, t - start)));
  }
  return columns.x;
}

export function axis(extra = {}) {
  return {
    stroke: cssVar("--chart-axis"),
    grid: { stroke: cssVar("--chart-grid"), width: 1 },
    ticks: { stroke: cssVar("--chart-grid"), width: 1 },
    font: "12px system-ui, sans-serif",
    labelFont: "600 12px system-ui, sans-serif",
    ...extra,
  };
}

export const lossScale = (log) => (log ? { distr: 3, log: 10 } : { distr: 1 });

const phone = () => window.matchMedia("(max-width: 600px)").matches;

/**
 * A uPlot in `container`, rebuilt by `rebuild()` (new options) and kept to its width.
 * `makeOptions()` returns uPlot options without size; `data()` the current columns.
 */
export class ChartHost {
  constructor(container, makeOptions, data, { small = false } = {}) {
    this.small = small;
    this.container = container;
    this.makeOptions = makeOptions;
    this.data = data;
    this.plot = null;
    this.zoomed = false;
    this.observer = new ResizeObserver(() => this.resize());
    this.observer.observe(container);
    this.onScheme = () => this.rebuild();
    this.scheme = window.matchMedia("(prefers-color-scheme: dark)");
    this.scheme.addEventListener("change", this.onScheme);
    container.addEventListener("dblclick", () => {
      this.zoomed = false;
    });
  }

  /** Stop following the container and the colour scheme; remove the chart. */
  destroy() {
    this.observer.disconnect();
    this.scheme.removeEventListener("change", this.onScheme);
    if (this.plot) this.plot.destroy();
    this.plot = null;
  }

  rebuild() {
    if (this.plot) this.plot.destroy();
    const options = {
      ...this.makeOptions(),
      width: Math.max(200, this.container.clientWidth),
      height: this.height(),
      hooks: { setSelect: [() => (this.zoomed = true)] },
    };
    this.plot = new uPlot(options, this.data(), this.container);
  }

  /** New data: keep the user's zoom if there is one. */
  update() {
    if (!this.plot) this.rebuild();
    else this.plot.setData(this.data(), !this.zoomed);
  }

  height() {
    if (this.small) return phone() ? 200 : 220;
    return phone() ? 260 : 340;
  }

  resize() {
    if (!this.plot) return;
    const width = Math.max(200, this.container.clientWidth);
    const height = this.height();
    if (width !== this.plot.width || height !== this.plot.height) this.plot.setSize({ width, height });
  }
}
