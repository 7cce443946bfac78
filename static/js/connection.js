// The notice at the bottom of every page when the server cannot be reached, and the one
// when it answers again. Requests report here; while down, /api/v1/health is probed.

const PROBE_MS = 2000;
const listeners = new Set();
let down = false;
let probe = null;
let hideTimer = null;

function show(text, tone) {
  const box = document.getElementById("connection");
  if (!box) return;
  clearTimeout(hideTimer);
  box.textContent = text;
  box.dataset.tone = tone;
  box.hidden = false;
}

function hide() {
  const box = document.getElementById("connection");
  if (box) box.hidden = true;
}

async function probeOnce() {
  try {
    await fetch("/api/v1/health", { cache: "no-store" });
    reportUp(); // any answer at all means the server is back
  } catch {
    /* still down */
  }
}

/** Call `fn` each time the connection comes back (refetch what may have been missed). */
export function onReconnect(fn) {
  listeners.add(fn);
}

export function isDown() {
  return down;
}

export function reportDown() {
  if (down) return;
  down = true;
  show("Connection lost. Reconnecting…", "bad");
  probe = setInterval(probeOnce, PROBE_MS);
}

export function reportUp() {
  if (!down) return;
  down = false;
  clearInterval(probe);
  show("Connected again.", "good");
  hideTimer = setTimeout(hide, 3000);
  for (const fn of listeners) fn();
}

window.addEventListener("offline", reportDown);
window.addEventListener("online", probeOnce);
