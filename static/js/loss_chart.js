// A run's chart: train loss raw (faint) and smoothed, val loss with its points, the learning
// rate on its own right-hand axis; smoothing, log scale, the lr line and what the x axis
// counts (iterations, tokens seen, wall time) can be changed.
import { ChartHost, X_MODES, axis, cssVar, faint, lossScale, lossValue, xAxis, xColumn } from "./chart_base.js";
import { smooth } from "./smoothing.js";

export class LossChart {
  constructor(container, { smoothing = 0.6, log = false, showLr = true, tokensPerIter = null } = {}) {
    this.smoothing = smoothing;
    this.log = log;
    this.showLr = showLr;
    this.xMode = "iter";
    this.tokensPerIter = tokensPerIter;
    this.columns = { x: [], train: [], val: [], lr: [], logged: [] };
    this.host = new ChartHost(container, () => this.options(), () => this.data());
    this.host.rebuild();
  }

  options() {
    const train = cssVar("--chart-train");
    const val = cssVar("--chart-val");
    const series = [
      { label: X_MODES[this.xMode].label, value: X_MODES[this.xMode].value },
      { label: "train (raw)", scale: "loss", stroke: faint(train), width: 1, spanGaps: true, value: lossValue, points: { show: false } },
      { label: "train", scale: "loss", stroke: train, width: 2, spanGaps: true, value: lossValue, points: { show: false } },
      { label: "val", scale: "loss", stroke: val, width: 2, spanGaps: true, value: lossValue, points: { show: true, size: 6, fill: val, stroke: val } },
    ];
    const axes = [xAxis(this.xMode), axis({ scale: "loss", label: "loss", size: 56 })];
    if (this.showLr) {
      series.push({
        label: "learning rate",
        scale: "lr",
        stroke: cssVar("--chart-lr"),
        width: 1,
        dash: [5, 4],
        spanGaps: true,
        points: { show: false },
        value: (u, v) => (v == null ? "—" : v.toExponential(2)),
      });
      axes.push(axis({ scale: "lr", side: 1, label: "learning rate", size: 64, grid: { show: false }, values: (u, vals) => vals.map((v) => (v == null ? "" : v.toExponential(1))) }));
    }
    return {
      series,
      axes,
      scales: { x: { time: false }, loss: lossScale(this.log), lr: { auto: true } },
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
    };
  }

  data() {
    const { train, val, lr } = this.columns;
    const x = xColumn(this.columns, this.xMode, this.tokensPerIter);
    const out = [x, train, smooth(train, this.smoothing), val];
    if (this.showLr) out.push(lr);
    return out;
  }

  setColumns(columns) {
    this.columns = columns;
    this.host.update();
  }

  setSmoothing(weight) {
    this.smoothing = weight;
    this.host.update();
  }

  /** "iter", "tokens" or "time". */
  setXMode(mode) {
    this.xMode = mode;
    this.host.zoomed = false;
    this.host.rebuild();
  }

  setLog(log) {
    this.log = log;
    this.host.rebuild();
  }

  setShowLr(show) {
    this.showLr = show;
    this.host.rebuild();
  }
}
