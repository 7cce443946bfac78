// The server's messages beside the field they name: every problem of the API's 422
// ({"error": {..., "errors": [{code, message, field}]}}) at once, and the dry run's warnings.
import { $, $$ } from "./dom.js";

export function clearErrors(form) {
  for (const slot of $$("[data-error-for]", form)) {
    slot.hidden = true;
    slot.textContent = "";
  }
  for (const input of $$("[aria-invalid]", form)) input.removeAttribute("aria-invalid");
  const general = $("[data-form-error]", form);
  if (general) general.hidden = true;
}

export function clearWarnings(form) {
  for (const slot of $$("[data-warning-for]", form)) {
    slot.hidden = true;
    slot.textContent = "";
  }
}

/** A field folded away (in a closed <details>) is shown when it has something to say. */
function unfold(element) {
  const folded = element.closest("details");
  if (folded && !folded.open) folded.open = true;
}

/**
 * Show `message` beside `fieldName`'s input; false when the form has no such field. `focus`
 * moves to the input (after a submit), never while someone is typing elsewhere.
 */
export function showFieldError(form, fieldName, message, { focus = true } = {}) {
  if (!fieldName) return false;
  const name = fieldName.split(".").pop();
  const slot = $(`[data-error-for="${CSS.escape(name)}"]`, form);
  if (!slot) return false;
  // a field can have several problems at once (a width not divisible by n_head that is
  // also too big for memory): each is said, in the server's order
  slot.textContent = slot.hidden || !slot.textContent ? message : `${slot.textContent} ${message}`;
  slot.hidden = false;
  unfold(slot);
  const input = form.elements.namedItem(name);
  if (input && input.setAttribute) {
    input.setAttribute("aria-invalid", "true");
    if (focus) {
      input.focus({ preventScroll: true });
      input.scrollIntoView({ block: "center", behavior: "smooth" });
    }
  }
  return true;
}

/** A warning beside its field (allowed, so the input is not marked invalid); false if none. */
export function showFieldWarning(form, fieldName, message) {
  const slot = fieldName && $(`[data-warning-for="${CSS.escape(fieldName)}"]`, form);
  if (!slot) return false;
  slot.textContent = message;
  slot.hidden = false;
  return true;
}

export function showFormError(form, message) {
  const general = $("[data-form-error]", form);
  if (!general) return;
  general.textContent = message;
  general.hidden = false;
}

/**
 * Every problem of an ApiError beside its field (the first one focused, when `focus`); those
 * no field matches are listed at the form's foot. `skip(field)` leaves a field alone.
 */
export function showApiError(form, error, { focus = true, skip = () => false } = {}) {
  const loose = [];
  let first = focus;
  for (const problem of error.errors ?? [error]) {
    if (problem.field && skip(problem.field.split(".").pop())) continue;
    if (showFieldError(form, problem.field, problem.message, { focus: first })) first = false;
    else loose.push(problem.message);
  }
  if (loose.length) showFormError(form, loose.join(" "));
}

/**
 * What the form can tell before asking: the fields left empty (or not a number), all at once
 * and in plain words; [{field, message}]. Every other check is the server's, as you type
 * (a dry run of the request), so there is one judge and one wording.
 */
export function localProblems(cfg) {
  return Object.entries(cfg)
    .filter(([, value]) => value === null || Number.isNaN(value))
    .map(([name]) => ({ field: name, message: `${name} needs a value` }));
}
