// A few DOM helpers. Text always goes in through textContent or text nodes, never as HTML.
import { toneOf } from "./format.js";

/** el("td", {className: "num", text: "3"}, child, …) */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value == null) continue;
    if (key === "text") node.textContent = value;
    else if (key === "className") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  node.append(...children.filter((c) => c != null));
  return node;
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

/** The element marked data-field="name" under root. */
export const field = (root, name) => root.querySelector(`[data-field="${name}"]`);

export function setText(node, text) {
  if (node && node.textContent !== text) node.textContent = text;
}

/** A state badge (class "state") showing `state` in its tone. */
export function setState(node, state) {
  if (!node) return;
  setText(node, state || "");
  node.dataset.tone = toneOf(state);
}

export function stateBadge(state) {
  const badge = el("span", { className: "state" });
  setState(badge, state);
  return badge;
}

/** The JSON a page carries in <script type="application/json" id="page-data">. */
export function pageData(id = "page-data") {
  const node = document.getElementById(id);
  return node ? JSON.parse(node.textContent) : null;
}
