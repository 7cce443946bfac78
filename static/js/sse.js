// Follow a server-sent-events stream of the API. EventSource reconnects by itself and sends
// Last-Event-ID, so the server replays what was missed; when the browser gives up (an HTTP
// error), it is reopened here with ?after=<last id>. The connection notice hears of both.
import { reportDown, reportUp } from "./connection.js";

const REOPEN_MS = 3000;

/** Open `url` (after event id `after`); `handlers` maps event names to fn(data, event). */
export function follow(url, { after = 0, handlers }) {
  let lastId = after;
  let source = null;
  let closed = false;
  let timer = null;

  const open = () => {
    const sep = url.includes("?") ? "&" : "?";
    source = new EventSource(`${url}${sep}after=${lastId}`);
    source.addEventListener("open", reportUp);
    source.addEventListener("error", () => {
      if (closed) return;
      if (source.readyState === EventSource.CLOSED) {
        timer = setTimeout(open, REOPEN_MS);
      }
      reportDown();
    });
    for (const [name, handler] of Object.entries(handlers)) {
      source.addEventListener(name, (event) => {
        if (event.lastEventId) lastId = Number(event.lastEventId);
        handler(JSON.parse(event.data), event);
      });
    }
  };

  open();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      if (source) source.close();
    },
    get lastId() {
      return lastId;
    },
  };
}
