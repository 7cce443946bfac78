// What every chart shares: colours from the stylesheet's variables (so light and dark both
// work), axes, sizing to its container, and rebuilding when the colour scheme changes.
import uPlot from "../vendor/uplot/uPlot.esm.js";

export const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

/** A faint version of a #rrggbb colour, for the raw line behind a smoothed one. */
export const faint = (hex, alpha = "40") => (/^#[0-9a-f]{6}$/i.test(hex) ? hex + alpha : hex);

export const lossValue = (u, v) => (v == null ? "—" : v.toFixed(4));
export const iterValue = (u, v) => (v == null ? "—" : Math.round(v).toLocaleString("en-US"));

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

const height = () => (window.matchMedia("(max-width: 600px)").matches ? 260 : 340);

/**
 * A uPlot in `container`, rebuilt by `rebuild()` (new options) and kept to its width.
 * `makeOptions()` returns uPlot options without size; `data()` the current columns.
 */
export class ChartHost {
  constructor(container, makeOptions, data) {
    this.container = container;
    this.makeOptions = makeOptions;
    this.data = data;
    this.plot = null;
    this.zoomed = false;
    new ResizeObserver(() => this.resize()).observe(container);
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => this.rebuild());
    container.addEventListener("dblclick", () => {
      this.zoomed = false;
    });
  }

  rebuild() {
    if (this.plot) this.plot.destroy();
    const options = {
      ...this.makeOptions(),
      width: Math.max(200, this.container.clientWidth),
      height: height(),
      hooks: { setSelect: [() => (this.zoomed = true)] },
    };
    this.plot = new uPlot(options, this.data(), this.container);
  }

  /** New data: keep the user's zoom if there is one. */
  update() {
    if (!this.plot) this.rebuild();
    else this.plot.setData(this.data(), !this.zoomed);
  }

  resize() {
    if (!this.plot) return;
    const width = Math.max(200, this.container.clientWidth);
    if (width !== this.plot.width || height() !== this.plot.height) this.plot.setSize({ width, height: height() });
  }
}
