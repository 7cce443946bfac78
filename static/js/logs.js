// A run's log: its last lines first (GET …/logs?tail=), earlier ones on request
// (?before=<first id shown>), then followed live from the last id. A few thousand lines stay
// on screen; the view sticks to the bottom unless scrolled up.
import { api } from "./api.js";
import { setText } from "./dom.js";
import { number } from "./format.js";
import { follow } from "./sse.js";

const KEEP = 3000;
const TAIL = 500;
const EARLIER = 1000;

export class LogView {
  constructor(pre, counter, earlierButton, runId) {
    this.pre = pre;
    this.counter = counter;
    this.earlierButton = earlierButton;
    this.runId = runId;
    this.items = []; // [{id, line}] on screen, oldest first
    this.lastId = 0;
    this.hasEarlier = false;
    this.stream = null;
    earlierButton.addEventListener("click", () => this.loadEarlier());
  }

  /** Newer lines at the bottom; the oldest leave the screen past KEEP·1.5 lines. */
  append(items) {
    if (!items.length) return;
    const atBottom = this.pre.scrollTop + this.pre.clientHeight >= this.pre.scrollHeight - 24;
    const text = items.map((item) => item.line).join("\n");
    this.pre.append(this.items.length ? `\n${text}` : text);
    this.items.push(...items);
    this.lastId = items[items.length - 1].id;
    if (this.items.length > KEEP * 1.5) {
      this.items = this.items.slice(-KEEP);
      this.pre.textContent = this.items.map((item) => item.line).join("\n");
      this.hasEarlier = true;
    }
    this.describe();
    if (atBottom) this.pre.scrollTop = this.pre.scrollHeight;
  }

  /** Older lines at the top, the view kept on what it showed. */
  prepend(items) {
    if (!items.length) return;
    const fromBottom = this.pre.scrollHeight - this.pre.scrollTop;
    const text = items.map((item) => item.line).join("\n");
    this.pre.prepend(this.items.length ? `${text}\n` : text);
    this.items.unshift(...items);
    this.pre.scrollTop = this.pre.scrollHeight - fromBottom;
  }

  describe() {
    const shown = number(this.items.length);
    setText(this.counter, this.hasEarlier ? `the last ${shown} lines` : `${shown} lines`);
    this.earlierButton.hidden = !this.hasEarlier;
  }

  async load() {
    const page = await api(`/runs/${this.runId}/logs?tail=${TAIL}`);
    this.hasEarlier = page.next_before != null;
    this.append(page.items);
    this.describe();
    this.pre.scrollTop = this.pre.scrollHeight;
  }

  async loadEarlier() {
    if (!this.items.length) return;
    this.earlierButton.disabled = true;
    try {
      const page = await api(`/runs/${this.runId}/logs?before=${this.items[0].id}&limit=${EARLIER}`);
      this.prepend(page.items);
      this.hasEarlier = page.next_before != null;
      this.describe();
    } catch (error) {
      setText(this.counter, `Earlier lines could not be loaded: ${error.message}`);
    } finally {
      this.earlierButton.disabled = false;
    }
  }

  follow() {
    if (this.stream) this.stream.close();
    this.stream = follow(`/api/v1/runs/${this.runId}/logs/stream`, {
      after: this.lastId,
      handlers: {
        log: (item) => {
          if (item.id > this.lastId) this.append([item]);
        },
        done: () => this.stop(),
      },
    });
  }

  stop() {
    if (this.stream) this.stream.close();
    this.stream = null;
  }
}
