// A run's log: read page by page from the start, then followed live; the newest lines stay
// on screen (a few thousand), and the view sticks to the bottom unless scrolled up.
import { api } from "./api.js";
import { setText } from "./dom.js";
import { number } from "./format.js";
import { follow } from "./sse.js";

const KEEP = 3000;
const PAGE = 2000;

export class LogView {
  constructor(pre, counter, runId) {
    this.pre = pre;
    this.counter = counter;
    this.runId = runId;
    this.lastId = 0;
    this.total = 0;
    this.shown = 0;
    this.stream = null;
  }

  append(items) {
    if (!items.length) return;
    const atBottom = this.pre.scrollTop + this.pre.clientHeight >= this.pre.scrollHeight - 24;
    const text = items.map((item) => item.line).join("\n");
    this.pre.append(this.total ? `\n${text}` : text);
    this.total += items.length;
    this.lastId = items[items.length - 1].id;
    this.shown += items.length;
    if (this.shown > KEEP * 1.5) {
      this.pre.textContent = this.pre.textContent.split("\n").slice(-KEEP).join("\n");
      this.shown = KEEP;
    }
    setText(this.counter, this.total > KEEP ? `the last ${number(KEEP)} of ${number(this.total)} lines` : `${number(this.total)} lines`);
    if (atBottom) this.pre.scrollTop = this.pre.scrollHeight;
  }

  async load() {
    for (;;) {
      const page = await api(`/runs/${this.runId}/logs?after=${this.lastId}&limit=${PAGE}`);
      this.append(page.items);
      if (page.next_after == null) break;
    }
    this.pre.scrollTop = this.pre.scrollHeight;
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
