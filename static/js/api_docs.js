// The API page: the vendored Swagger UI (a classic script that defines SwaggerUIBundle)
// started over /openapi.json, following the light/dark preference.
import { $ } from "./dom.js";

const root = $("#swagger-ui");
const dark = matchMedia("(prefers-color-scheme: dark)");
// Swagger UI's own dark theme hangs off this class on <html>.
const followScheme = () => document.documentElement.classList.toggle("dark-mode", dark.matches);
followScheme();
dark.addEventListener("change", followScheme);

if (typeof window.SwaggerUIBundle !== "function") {
  $("[data-docs-status]", root).textContent = "The API reference could not be loaded.";
} else {
  window.SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    // The default validator badge is an image from validator.swagger.io: nothing leaves here.
    validatorUrl: null,
  });
}
