// fetch() for /api/v1: JSON in and out, the API's one error shape as an ApiError, and the
// connection notice told about network failures.
import { reportDown, reportUp } from "./connection.js";

export const API = "/api/v1";

export class ApiError extends Error {
  /** `errors`: every problem the server found, [{code, message, field}]; the first is this one.
   * `choices`: the values to pick from for `field` ([{value, examples}]), when it asks. */
  constructor(status, code, message, field = null, errors = null, choices = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
    this.errors = Array.isArray(errors) && errors.length ? errors : [{ code, message, field }];
    this.choices = Array.isArray(choices) ? choices : null;
  }
}

/** An ApiError from a response body in the {"error": {code, message, field, errors}} shape. */
export function errorFrom(status, body) {
  const e = body && body.error;
  if (e && typeof e.message === "string") return new ApiError(status, e.code, e.message, e.field, e.errors, e.choices);
  return new ApiError(status, `http_${status}`, `The server answered ${status}.`);
}

export function toLogin() {
  const here = location.pathname + location.search;
  location.assign(`/login?next=${encodeURIComponent(here)}`);
}

/** Send a request; resolve with the JSON body (null for 204), reject with an ApiError. */
export async function api(path, { method = "GET", body, signal, headers = {} } = {}) {
  const init = { method, signal, headers: { Accept: "application/json", ...headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(API + path, init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    reportDown();
    throw new ApiError(0, "network", "The server cannot be reached.");
  }
  reportUp();
  if (response.status === 401) toLogin();
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw errorFrom(response.status, data);
  return data;
}

/** Call `fn` now and every `ms` while `keepGoing()` says so; returns a stop function. */
export function poll(fn, ms, keepGoing = () => true) {
  let timer = null;
  let stopped = false;
  const tick = async () => {
    if (stopped) return;
    try {
      await fn();
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 0) console.warn(error);
    }
    if (!stopped && keepGoing()) timer = setTimeout(tick, ms);
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
