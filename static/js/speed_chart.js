// A run's speed chart beside its loss: tokens per second at each logged step and, where the
// device reports it, the memory in use on a right-hand axis; the same x axis as the loss.
import { ChartHost, X_MODES, axis, cssVar, xAxis, xColumn } from "./chart_base.js";
import { bytes, compact } from "./format.js";

// Small values keep a decimal (an empty chart's 0…1 axis would read 0 0 0 1 1 1).
const rate = (v) => (v == null ? "" : Math.abs(v) >= 1000 ? compact(v) : String(+v.toFixed(Math.abs(v) < 10 ? 1 : 0)));

export class SpeedChart {
  constructor(container, { tokensPerIter = null } = {}) {
    this.xMode = "iter";
    this.tokensPerIter = tokensPerIter;
    this.columns = { x: [], tps: [], memory: [], logged: [] };
    this.hasMemory = false;
    this.host = new ChartHost(container, () => this.options(), () => this.data(), { small: true });
    this.host.rebuild();
  }

  options() {
    const series = [
      { label: X_MODES[this.xMode].label, value: X_MODES[this.xMode].value },
      { label: "tokens/s", scale: "tps", stroke: cssVar("--chart-train"), width: 2, spanGaps: true, points: { show: false }, value: (u, v) => (v == null ? "—" : rate(v)) },
    ];
    const axes = [xAxis(this.xMode), axis({ scale: "tps", label: "tokens/s", size: 56, values: (u, vals) => vals.map(rate) })];
    if (this.hasMemory) {
      series.push({ label: "memory", scale: "mem", stroke: cssVar("--chart-lr"), width: 1, dash: [5, 4], spanGaps: true, points: { show: false }, value: (u, v) => (v == null ? "—" : bytes(v)) });
      axes.push(axis({ scale: "mem", side: 1, label: "memory", size: 64, grid: { show: false }, values: (u, vals) => vals.map((v) => (v == null ? "" : bytes(v))) }));
    }
    return {
      series,
      axes,
      scales: { x: { time: false }, tps: { auto: true, range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] }, mem: { auto: true } },
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
    };
  }

  data() {
    const out = [xColumn(this.columns, this.xMode, this.tokensPerIter), this.columns.tps];
    if (this.hasMemory) out.push(this.columns.memory);
    return out;
  }

  setColumns(columns) {
    this.columns = columns;
    const hasMemory = columns.memory.some((v) => v != null);
    if (hasMemory !== this.hasMemory) {
      this.hasMemory = hasMemory;
      this.host.rebuild();
    } else this.host.update();
  }

  setXMode(mode) {
    this.xMode = mode;
    this.host.zoomed = false;
    this.host.rebuild();
  }
}
