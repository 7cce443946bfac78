// A run's chart: train loss raw (faint) and smoothed, val loss with its points, the learning
// rate on its own right-hand axis; smoothing, log scale and the lr line can be changed.
import { ChartHost, axis, cssVar, faint, iterValue, lossScale, lossValue } from "./chart_base.js";
import { smooth } from "./smoothing.js";

export class LossChart {
  constructor(container, { smoothing = 0.6, log = false, showLr = true } = {}) {
    this.smoothing = smoothing;
    this.log = log;
    this.showLr = showLr;
    this.columns = { x: [], train: [], val: [], lr: [] };
    this.host = new ChartHost(container, () => this.options(), () => this.data());
    this.host.rebuild();
  }

  options() {
    const train = cssVar("--chart-train");
    const val = cssVar("--chart-val");
    const series = [
      { label: "iteration", value: iterValue },
      { label: "train (raw)", scale: "loss", stroke: faint(train), width: 1, spanGaps: true, value: lossValue, points: { show: false } },
      { label: "train", scale: "loss", stroke: train, width: 2, spanGaps: true, value: lossValue, points: { show: false } },
      { label: "val", scale: "loss", stroke: val, width: 2, spanGaps: true, value: lossValue, points: { show: true, size: 6, fill: val, stroke: val } },
    ];
    const axes = [axis({ label: "iteration" }), axis({ scale: "loss", label: "loss", size: 56 })];
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
    const { x, train, val, lr } = this.columns;
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

  setLog(log) {
    this.log = log;
    this.host.rebuild();
  }

  setShowLr(show) {
    this.showLr = show;
    this.host.rebuild();
  }
}
