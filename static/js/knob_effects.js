// A sweep's knob effects (the API's `effects`): a number knob as a small scatter of val bpc
// against the knob (log axis where the space is log-scaled; pruned trials hollow, as they
// do not count) with its rank correlation; a choice knob as a table of its choices.
import { el } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const W = 280;
const H = 120;
const PAD = 28;

function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text != null) node.textContent = text;
  return node;
}

const short = (v) => (Math.abs(v) >= 1e-2 && Math.abs(v) < 1e4 ? String(+v.toPrecision(3)) : v.toExponential(1));

function scale(values, log) {
  const f = log ? Math.log10 : (v) => v;
  const lo = Math.min(...values.map(f));
  const hi = Math.max(...values.map(f));
  const span = hi - lo || 1;
  return (v) => (f(v) - lo) / span;
}

function scatter(effect, log) {
  const points = effect.points;
  const x = scale(points.map((p) => p.value), log);
  const y = scale(points.map((p) => p.val_bpc), false);
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": `val bpc against ${effect.knob}` });
  chart.append(svg("line", { x1: PAD, y1: H - PAD, x2: W - 8, y2: H - PAD, stroke: "currentColor", "stroke-opacity": 0.3 }));
  chart.append(svg("line", { x1: PAD, y1: 8, x2: PAD, y2: H - PAD, stroke: "currentColor", "stroke-opacity": 0.3 }));
  for (const p of points) {
    const cx = PAD + 6 + x(p.value) * (W - PAD - 20);
    const cy = H - PAD - 6 - y(p.val_bpc) * (H - PAD - 20);
    const dot = svg("circle", { cx, cy, r: 4, stroke: "var(--series-1)", fill: p.complete ? "var(--series-1)" : "none" });
    dot.append(svg("title", {}, `${effect.knob} ${short(p.value)}: val bpc ${p.val_bpc.toFixed(4)}${p.complete ? "" : " (pruned)"}`));
    chart.append(dot);
  }
  if (points.length) {
    const xs = points.map((p) => p.value);
    const ys = points.map((p) => p.val_bpc);
    chart.append(svg("text", { x: PAD, y: H - 10, "font-size": 10, fill: "currentColor" }, short(Math.min(...xs))));
    chart.append(svg("text", { x: W - 8, y: H - 10, "font-size": 10, fill: "currentColor", "text-anchor": "end" }, short(Math.max(...xs))));
    chart.append(svg("text", { x: 2, y: 14, "font-size": 10, fill: "currentColor" }, Math.max(...ys).toFixed(2)));
    chart.append(svg("text", { x: 2, y: H - PAD, "font-size": 10, fill: "currentColor" }, Math.min(...ys).toFixed(2)));
  }
  return chart;
}

function verdict(effect) {
  const rho = effect.correlation;
  if (rho == null) return "too few complete trials to say";
  if (Math.abs(rho) < 0.3) return `no clear effect yet (ρ = ${rho})`;
  const strength = Math.abs(rho) >= 0.7 ? "strong" : "weak";
  return `${rho < 0 ? "higher" : "lower"} is better (ρ = ${rho}, ${strength})`;
}

function choiceTable(effect) {
  const rows = effect.choices.map((c) => el("tr", {}, el("td", { className: "mono", text: JSON.stringify(c.value) }), el("td", { className: "num", text: String(c.trials) }), el("td", { className: "num", text: c.best.toFixed(4) }), el("td", { className: "num", text: c.mean.toFixed(4) })));
  const head = el("tr", {}, el("th", { text: "Choice" }), el("th", { className: "num", text: "Trials" }), el("th", { className: "num", text: "Best bpc" }), el("th", { className: "num", text: "Mean bpc" }));
  return el("table", { className: "table" }, el("thead", {}, head), el("tbody", {}, ...rows));
}

/** Replace `container`'s children with one figure per knob of `effects`. */
export function showEffects(container, effects, space) {
  const figures = effects.map((effect) => {
    const caption = el("figcaption", {}, el("strong", { className: "mono", text: effect.knob }), " ");
    if (effect.kind === "number") {
      caption.append(verdict(effect));
      return el("figure", { className: "knob-effect", dataset: { knob: effect.knob } }, caption, scatter(effect, Boolean(space[effect.knob]?.log)));
    }
    caption.append(effect.choices.length ? `best: ${JSON.stringify(effect.choices[0].value)}` : "no complete trials yet");
    return el("figure", { className: "knob-effect", dataset: { knob: effect.knob } }, caption, choiceTable(effect));
  });
  container.replaceChildren(...figures);
}
