// A chart as a PNG that reads on its own: a title above, the plot (lines and axes) on the
// page's background, and a legend below naming each shown line in its colour and dash.
import { cssVar } from "./chart_base.js";

const FONT = "system-ui, sans-serif";

function strokeOf(plot, series, index) {
  return typeof series.stroke === "function" ? series.stroke(plot, index) : series.stroke;
}

/** Rows of legend entries (label, stroke, dash), each row within `width` pixels. */
function legendRows(ctx, entries, width, scale) {
  const rows = [[]];
  let x = 0;
  for (const entry of entries) {
    const w = (28 + 16) * scale + ctx.measureText(entry.label).width;
    if (x + w > width && rows.at(-1).length) {
      rows.push([]);
      x = 0;
    }
    rows.at(-1).push({ ...entry, x, w });
    x += w;
  }
  return rows;
}

/** The PNG blob of a uPlot `plot` with `title`; null without a plot. */
export function chartPng(plot, title) {
  const source = plot && plot.ctx.canvas;
  if (!source) return Promise.resolve(null);
  const scale = source.width / plot.width; // device pixels per CSS pixel
  const pad = 12 * scale;
  const line = 20 * scale;
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d");
  ctx.font = `${12 * scale}px ${FONT}`;
  const entries = plot.series
    .map((series, index) => ({ series, index }))
    .filter(({ series, index }) => index > 0 && series.show !== false)
    .map(({ series, index }) => ({ label: series.label, stroke: strokeOf(plot, series, index), dash: series.dash }));
  const rows = legendRows(ctx, entries, source.width - 2 * pad, scale);
  const top = pad + line + pad / 2;
  canvas.width = source.width;
  canvas.height = top + source.height + pad + rows.length * line + pad;

  ctx.fillStyle = cssVar("--surface") || "#ffffff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.textBaseline = "middle";
  ctx.fillStyle = cssVar("--text") || "#1b1f24";
  ctx.font = `600 ${15 * scale}px ${FONT}`;
  ctx.fillText(title, pad, pad + line / 2, canvas.width - 2 * pad);
  ctx.drawImage(source, 0, top);

  ctx.font = `${12 * scale}px ${FONT}`;
  rows.forEach((row, r) => {
    const y = top + source.height + pad + r * line + line / 2;
    for (const entry of row) {
      const x = pad + entry.x;
      ctx.strokeStyle = entry.stroke || "#000000";
      ctx.lineWidth = 2 * scale;
      ctx.setLineDash((entry.dash || []).map((d) => d * scale));
      ctx.beginPath();
      ctx.moveTo(x, y);
      ctx.lineTo(x + 24 * scale, y);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = cssVar("--text") || "#1b1f24";
      ctx.fillText(entry.label, x + 28 * scale, y);
    }
  });
  return new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
}
