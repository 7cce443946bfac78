// "Talk to it": POST …/samples with stream=true and show the text as it arrives (fetch and
// a ReadableStream, since EventSource cannot POST); Stop aborts the request.
import { ApiError, errorFrom } from "./api.js";
import { reportDown, reportUp } from "./connection.js";
import { $, el, setText } from "./dom.js";
import { clearErrors, showApiError } from "./field_errors.js";
import { number } from "./format.js";
import { readEvents } from "./post_sse.js";

function optionalNumber(input, parse) {
  const raw = input.value.trim();
  return raw === "" ? null : parse(raw);
}

function requestBody(form) {
  const f = form.elements;
  return {
    prompt: f.prompt.value,
    max_new_tokens: Number.parseInt(f.max_new_tokens.value, 10),
    temperature: Number(f.temperature.value),
    top_k: optionalNumber(f.top_k, (v) => Number.parseInt(v, 10)),
    top_p: optionalNumber(f.top_p, Number),
    checkpoint: f.checkpoint.value,
    seed: Number.parseInt(f.seed.value, 10),
    stream: true,
  };
}

export function bindSampler(form, output, runId) {
  const go = $("[data-sample-go]", form);
  const stop = $("[data-sample-stop]", form);
  const status = $("[data-sample-status]", form);
  let controller = null;

  const busy = (on) => {
    go.disabled = on;
    stop.disabled = !on;
    output.setAttribute("aria-busy", String(on));
  };

  async function generate(body) {
    controller = new AbortController();
    let response;
    try {
      response = await fetch(`/api/v1/runs/${runId}/samples`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
        body: JSON.stringify(body),
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
        setText(status, `Generating from ${data.checkpoint} (iteration ${number(data.iter)})…`);
      } else if (event.event === "token") {
        output.append(data.text);
        pieces += 1;
        output.scrollTop = output.scrollHeight;
      } else if (event.event === "done") {
        setText(status, `Done: ${number(data.completion.length)} characters in ${number(pieces)} pieces.`);
      } else if (event.event === "error") {
        throw new ApiError(0, data.code, data.message, data.field);
      }
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const body = requestBody(form);
    output.replaceChildren(el("span", { className: "prompt", text: body.prompt }));
    setText(status, "Waiting for the sampler…");
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
}
