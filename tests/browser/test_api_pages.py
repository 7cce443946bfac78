"""The API reference page and the run form's live validation in a real browser: Swagger UI
(vendored) renders the operations under the pages' CSP, and the form asks the server
(`POST /runs?dry_run=true`) as you type. Independent of test_dashboard.py's order."""

from __future__ import annotations

import pytest
from browser_helpers import Studio, screenshot
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


# Every refusal the page's CSP makes, as the page itself sees them.
RECORD_CSP = """window.__csp = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__csp.push(`${e.effectiveDirective} ${e.blockedURI}`));"""


def test_api_docs_render_offline_under_the_csp(page, studio: Studio):
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.add_init_script(RECORD_CSP)
    page.goto(studio.base + "/docs")
    expect(page.locator("#swagger-ui .opblock").first).to_be_visible()
    expect(page.locator("#swagger-ui")).to_contain_text("/api/v1/runs")
    expect(page.locator("#swagger-ui")).to_contain_text("nanoGPT Studio")
    # "Try it out" runs as the signed-in user (the session cookie): a guarded GET answers 200.
    presets = page.locator('.opblock-get:has([data-path="/api/v1/presets"])')
    presets.locator(".opblock-summary").click()
    presets.get_by_role("button", name="Try it out").click()
    presets.get_by_role("button", name="Execute").click()
    status = presets.locator(".live-responses-table .response .response-col_status").first
    expect(status).to_have_text("200")
    expect(presets.locator(".live-responses-table")).to_contain_text("tiny-cpu")
    # A schema with its example body renders too (highlighted JSON: styles set by script).
    create = page.locator('.opblock-post:has([data-path="/api/v1/runs"])')
    create.locator(".opblock-summary").click()
    expect(create.locator(".body-param__example, .highlight-code").first).to_contain_text(
        "dataset_id"
    )
    screenshot(page, "15-api-docs")
    assert page.evaluate("() => window.__csp") == []
    outside = [url for url in requested if not url.startswith(studio.base)]
    assert outside == [], outside
