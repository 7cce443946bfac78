// A run's metric points keyed by iteration (a later point replaces an earlier one at the same
// iteration, as after a resume from an older checkpoint), kept sorted, and thinned as live
// points pile up the way the server downsamples: evaluations kept, min/max train loss kept.

function lowerBound(values, target) {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (values[mid] < target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class MetricStore {
  constructor(limit = 6000) {
    this.limit = limit;
    this.iters = [];
    this.points = [];
    this.maxId = 0;
    this.latest = null; // the newest point with train figures
  }

  get size() {
    return this.points.length;
  }

  add(point) {
    this.maxId = Math.max(this.maxId, point.id);
    if (point.train_loss != null && (!this.latest || point.iter >= this.latest.iter)) this.latest = point;
    const n = this.iters.length;
    if (n === 0 || point.iter > this.iters[n - 1]) {
      this.iters.push(point.iter);
      this.points.push(point);
    } else {
      const at = lowerBound(this.iters, point.iter);
      if (this.iters[at] === point.iter) {
        if (point.id >= this.points[at].id) this.points[at] = point;
      } else {
        this.iters.splice(at, 0, point.iter);
        this.points.splice(at, 0, point);
      }
    }
    if (this.points.length > this.limit) this.compact();
  }

  /** Thin all but the newest quarter to about limit/2 points. */
  compact() {
    const tail = Math.floor(this.limit / 4);
    const head = this.points.slice(0, this.points.length - tail);
    const size = Math.max(2, Math.ceil(head.length / (this.limit / 4)));
    const kept = [];
    for (let start = 0; start < head.length; start += size) {
      const chunk = head.slice(start, start + size);
      let lo = null;
      let hi = null;
      for (const p of chunk) {
        if (p.train_loss == null) continue;
        if (!lo || p.train_loss < lo.train_loss) lo = p;
        if (!hi || p.train_loss > hi.train_loss) hi = p;
      }
      kept.push(...chunk.filter((p, i) => i === 0 || p.val_loss != null || p === lo || p === hi));
    }
    this.points = [...kept, ...this.points.slice(head.length)];
    this.iters = this.points.map((p) => p.iter);
    this.limit = Math.max(this.limit, this.points.length * 2); // never thin on every add
  }

  /** Columns for a chart: x (iterations), train, val, lr, tokens/s, memory, logged (s). */
  columns() {
    const pick = (key) => this.points.map((p) => p[key]);
    return {
      x: this.iters.slice(),
      train: pick("train_loss"),
      val: pick("val_loss"),
      lr: pick("lr"),
      tps: pick("tokens_per_sec"),
      memory: pick("memory_bytes"),
      logged: this.points.map((p) => Date.parse(p.logged_at) / 1000),
    };
  }
}
