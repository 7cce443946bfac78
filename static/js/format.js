// How numbers, sizes, times and states read (app/web/formatting.py says the same on the
// server, so a value looks the same before and after a live update).

// The states' tones and which states are finished: the server's one table, handed to every
// page in <script type="application/json" id="states"> (app/web/formatting.py).
const STATES = JSON.parse(document.getElementById("states")?.textContent || "null") || {
  tones: {},
  finished: [],
};
const TONES = STATES.tones;
export const FINISHED = new Set(STATES.finished);

export const toneOf = (state) => TONES[state] || "quiet";

export function number(value) {
  if (value == null || Number.isNaN(value)) return "—";
  if (!Number.isInteger(value)) {
    return value.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }
  return value.toLocaleString("en-US");
}

export function compact(value) {
  if (value == null) return "—";
  const units = [
    [1e12, "T"],
    [1e9, "B"],
    [1e6, "M"],
    [1e3, "k"],
  ];
  for (const [size, unit] of units) {
    if (Math.abs(value) >= size) return `${(value / size).toFixed(value / size >= 100 ? 0 : 1)}${unit}`;
  }
  return String(Math.round(value));
}

export function bytes(value) {
  if (value == null) return "—";
  let size = value;
  for (const unit of ["B", "KB", "MB", "GB", "TB"]) {
    if (Math.abs(size) < 1000 || unit === "TB") {
      return unit === "B" ? `${size.toFixed(0)} B` : `${size.toFixed(1)} ${unit}`;
    }
    size /= 1000;
  }
  return "—";
}

export const loss = (value) => (value == null ? "—" : value.toFixed(4));
export const bpc = (value) => (value == null ? "—" : value.toFixed(3));

// A val loss's two units, and which one runs side by side compare by (formatting.py's
// UNIT_LABELS and loss_unit): bits per character when their tokenizers differ.
export const UNIT_LABELS = { loss: "nats / token", bpc: "bits / char" };
export const lossUnit = (runs) => (new Set(runs.map((r) => r.tokenizer)).size > 1 ? "bpc" : "loss");
export const bestVal = (run, unit) => (unit === "bpc" ? bpc(run.best_val_bpc) : loss(run.best_val_loss));
export const percent = (value) => (value == null ? "—" : `${Math.round(value * 100)}%`);

export function duration(seconds) {
  if (seconds == null || !Number.isFinite(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n) => String(n).padStart(2, "0");
  if (h) return `${h} h ${pad(m)} min`;
  if (m) return `${m} min ${pad(s % 60)} s`;
  return `${s} s`;
}

export function relativeTime(iso) {
  if (!iso) return "";
  const then = new Date(iso);
  const seconds = (Date.now() - then.getTime()) / 1000;
  if (seconds < 45) return "just now";
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  if (seconds < 86400 * 7) return `${Math.round(seconds / 86400)} d ago`;
  return then.toLocaleDateString();
}

/** Every <time datetime> under root reads "3 min ago", with the exact time on hover. */
export function refreshTimes(root = document) {
  for (const time of root.querySelectorAll("time[datetime]")) {
    const iso = time.getAttribute("datetime");
    if (!iso) continue;
    time.textContent = relativeTime(iso);
    time.title = new Date(iso).toLocaleString();
  }
}
