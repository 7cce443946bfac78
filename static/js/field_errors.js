// The server's messages beside the field they name (the API's 422 {"error": {field}}).
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

/**
 * Show `message` beside `fieldName`'s input; false when the form has no such field. `focus`
 * moves to the input (after a submit), never while someone is typing elsewhere.
 */
export function showFieldError(form, fieldName, message, { focus = true } = {}) {
  if (!fieldName) return false;
  const name = fieldName.split(".").pop();
  const slot = $(`[data-error-for="${CSS.escape(name)}"]`, form);
  if (!slot) return false;
  slot.textContent = message;
  slot.hidden = false;
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

export function showFormError(form, message) {
  const general = $("[data-form-error]", form);
  if (!general) return;
  general.textContent = message;
  general.hidden = false;
}

/**
 * An ApiError beside its field, or at the form's foot when no field matches; a 422 that
 * lists several problems shows each beside its own field (the focus goes to the first).
 */
export function showApiError(form, error, options = {}) {
  if (error.errors && error.errors.length) {
    const loose = [];
    error.errors.forEach((e, i) => {
      const focus = i === 0 && options.focus !== false;
      if (!showFieldError(form, e.field, e.message, { ...options, focus })) loose.push(e.message);
    });
    if (loose.length) showFormError(form, loose.join("; "));
    return;
  }
  if (!showFieldError(form, error.field, error.message, options)) showFormError(form, error.message);
}
