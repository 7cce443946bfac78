// The server's judgement as you type: the request the form would send, posted with
// ?dry_run=true (every check a real start makes; nothing stored), debounced, and a newer
// check aborts the one still in flight so an old answer never lands after a new one.
import { ApiError, api } from "./api.js";

export class DryRun {
  /**
   * @param {() => [string, object]} request the [path, body] to check, read when it fires
   * @param {(result: {plan?: object, error?: ApiError}) => void} onResult
   */
  constructor(request, onResult, delayMs = 400) {
    this.request = request;
    this.onResult = onResult;
    this.delayMs = delayMs;
    this.timer = null;
    this.controller = null;
  }

  schedule() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.run(), this.delayMs);
  }

  cancel() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.controller) this.controller.abort();
    this.controller = null;
  }

  async run() {
    this.cancel();
    const controller = new AbortController();
    this.controller = controller;
    const [path, body] = this.request();
    try {
      const plan = await api(`${path}?dry_run=true`, { method: "POST", body, signal: controller.signal });
      if (this.controller === controller) this.onResult({ plan });
    } catch (error) {
      if (error.name === "AbortError" || this.controller !== controller) return;
      // Unreachable server: the connection notice says so; judge again when it is back.
      if (error instanceof ApiError && error.status !== 0) this.onResult({ error });
    } finally {
      if (this.controller === controller) this.controller = null;
    }
  }
}
