// "Talk to it": POST …/samples with stream=true and show the text as it arrives (fetch and
// a ReadableStream, since EventSource cannot POST); Stop aborts the request. An empty seed
// field means a new random seed each time; the seed used is shown, and a finished sample
// goes on top of the run's kept samples. Generate waits for a checkpoint to exist.
import { ApiError, errorFrom } from "./api.js";
import { reportDown, reportUp } from "./connection.js";
import { $, el, setText } from "./dom.js";
import { clearErrors, showApiError } from "./field_errors.js";
import { number } from "./format.js";
import { readEvents } from "./post_sse.js";
import { SampleHistory } from "./sample_history.js";

/** A number field's value as typed (a string the server checks), null when empty. */
function typed(input, parse) {
  const raw = input.value.trim();
  if (raw === "") return null;
  const value = parse(raw);
  return Number.isNaN(value) ? raw : value;
}

function requestBody(form) {
  const f = form.elements;
  const body = {
    prompt: f.prompt.value,
    max_new_tokens: typed(f.max_new_tokens, Number),
    temperature: typed(f.temperature, Number),
    top_k: typed(f.top_k, Number),
    top_p: typed(f.top_p, Number),
    checkpoint: f.checkpoint.value,
    // A seed past 2**53 would lose digits as a JS number: kept as its digits (see jsonBody).
    seed: typed(f.seed, (v) => (Number.isSafeInteger(Number(v)) ? Number(v) : v)),
    stop_at_eot: f.stop_at_eot.checked,
    stream: true,
  };
  // Left empty, these take the server's defaults (the seed: a new random one).
  for (const key of ["max_new_tokens", "temperature", "seed"]) if (body[key] === null) delete body[key];
  return body;
}

/** The body as JSON, a seed kept as digits written as a JSON number (JSON bodies are strict:
 * the server takes no "123" for 123); anything else typed stays a string, for the server to
 * refuse naming the field. */
function jsonBody(body) {
  const { seed, ...rest } = body;
  const text = JSON.stringify(rest);
  if (seed === undefined) return text;
  const written = typeof seed === "string" && /^\d+$/.test(seed) ? seed : JSON.stringify(seed);
  return `${text.slice(0, -1)}${text.length > 2 ? "," : ""}"seed":${written}}`;
}

export function bindSampler(form, output, runId) {
  const go = $("[data-sample-go]", form);
  const stop = $("[data-sample-stop]", form);
  const status = $("[data-sample-status]", form);
  const why = $("[data-sample-why]", form);
  const seedLine = $("[data-sample-seed]");
  const useSeed = $("[data-sample-use-seed]");
  let controller = null;
  let ready = false; // a checkpoint exists
  let lastSeed = null;

  const history = new SampleHistory(
    $("[data-sample-history]"),
    $("[data-sample-history-empty]"),
    $("[data-sample-history-more]"),
    runId,
    (sample) => {
      const f = form.elements;
      f.prompt.value = sample.prompt;
      f.max_new_tokens.value = sample.max_new_tokens;
      f.temperature.value = sample.temperature;
      f.top_k.value = sample.top_k ?? "";
      f.top_p.value = sample.top_p ?? "";
      f.checkpoint.value = sample.checkpoint === "best.pt" ? "best" : "latest";
      f.seed.value = sample.seed;
      f.stop_at_eot.checked = Boolean(sample.stop_at_eot);
      f.prompt.focus();
    }
  );
  history.load().catch(() => {});

  const busy = (on) => {
    go.disabled = on || !ready;
    stop.disabled = !on;
    output.setAttribute("aria-busy", String(on));
  };

  function showSeed(seed) {
    lastSeed = seed;
    seedLine.hidden = seed == null;
    setText($("[data-sample-seed-value]", seedLine), seed == null ? "" : String(seed));
  }

  useSeed.addEventListener("click", () => {
    if (lastSeed != null) form.elements.seed.value = lastSeed;
  });

  async function generate(body) {
    controller = new AbortController();
    let response;
    try {
      response = await fetch(`/api/v1/runs/${runId}/samples`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
        body: jsonBody(body),
        signal: controller.signal,
      });
    } catch (error) {
      if (error.name !== "AbortError") reportDown();
      throw error.name === "AbortError" ? error : new ApiError(0, "network", "The server cannot be reached.");
    }
    reportUp();
    if (!response.ok) throw errorFrom(response.status, await response.json().catch(() => null));
    let pieces = 0;
    for await (const event of readEvents(response.body)) {
      const data = JSON.parse(event.data);
      if (event.event === "start") {
        // its digits as sent, not as a JS number: a seed past 2**53 would come back changed
        showSeed(/"seed":\s*(\d+)/.exec(event.data)?.[1] ?? data.seed);
        setText(status, `Generating from ${data.checkpoint} (iteration ${number(data.iter)})…`);
      } else if (event.event === "token") {
        output.append(data.text);
        pieces += 1;
        output.scrollTop = output.scrollHeight;
      } else if (event.event === "done") {
        setText(status, `Done: ${number(data.completion.length)} characters in ${number(pieces)} pieces.`);
        if (data.sample) history.add(data.sample);
      } else if (event.event === "error") {
        throw new ApiError(0, data.code, data.message, data.field);
      }
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!ready) return;
    clearErrors(form);
    const body = requestBody(form);
    output.replaceChildren(el("span", { className: "prompt", text: body.prompt }));
    setText(status, "Waiting for the sampler…");
    showSeed(null);
    busy(true);
    try {
      await generate(body);
    } catch (error) {
      if (error.name === "AbortError") setText(status, "Stopped.");
      else {
        setText(status, "");
        showApiError(form, error);
      }
    } finally {
      controller = null;
      busy(false);
    }
  });
  stop.addEventListener("click", () => controller && controller.abort());

  return {
    /** Whether a checkpoint exists; `reason` says why not, and when the first comes. */
    setReady(isReady, reason = "") {
      ready = isReady;
      if (!controller) go.disabled = !ready;
      why.hidden = ready;
      setText(why, ready ? "" : reason);
    },
  };
}
