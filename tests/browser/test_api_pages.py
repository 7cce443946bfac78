"""Pages over the API's newer parts, in a real browser: the API reference (Swagger UI,
vendored) renders the operations under the pages' CSP; the run form asks the server
(`POST /runs?dry_run=true`) as you type; a run's log loads its tail and earlier lines on
request. Independent of test_dashboard.py's order."""

from __future__ import annotations

from browser_helpers import Studio, screenshot
from playwright.sync_api import expect

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


def test_run_form_asks_the_server_as_you_type(page, studio: Studio):
    sample = page.request.post(studio.base + "/api/v1/datasets/sample")
    assert sample.ok, sample.text()
    runs_before = page.request.get(studio.base + "/api/v1/runs").json()["total"]
    checks: list[str] = []
    page.on("request", lambda r: checks.append(r.url) if "dry_run=true" in r.url else None)
    with page.expect_response(lambda r: "dry_run=true" in r.url) as first:
        page.goto(f"{studio.base}/runs/new?dataset={sample.json()['id']}")
    assert first.value.status == 200  # the preset as it stands is fine: nothing shown
    expect(page.locator("[data-error-for]:visible")).to_have_count(0)
    checks.clear()

    n_head, n_embd = page.locator('[name="n_head"]'), page.locator('[name="n_embd"]')
    n_embd_error = page.locator('[data-error-for="n_embd"]')
    n_head.fill("")
    with page.expect_response(lambda r: "dry_run=true" in r.url) as answer:
        n_head.press_sequentially("12", delay=60)  # two keystrokes, one check
    assert answer.value.status == 422
    # The server's own words (the form no longer mirrors this check), beside the field it
    # names, while the focus stays where the typing is.
    expect(n_embd_error).to_have_text(
        "n_embd (128) must be divisible by n_head (12) so every head gets the same width"
    )
    expect(n_embd).to_have_attribute("aria-invalid", "true")
    assert page.evaluate("() => document.activeElement.name") == "n_head"
    assert len(checks) == 1, checks
    screenshot(page, "16-run-form-live-check")

    n_head.fill("4")
    expect(n_embd_error).to_be_hidden()
    expect(n_embd).not_to_have_attribute("aria-invalid", "true")
    # A check on the data: the dataset's own figures (estimated until prepared).
    page.locator('[name="block_size"]').fill("200000")
    expect(page.locator('[data-error-for="block_size"]')).to_contain_text("block_size")
    page.locator('[name="block_size"]').fill("64")
    expect(page.locator('[data-error-for="block_size"]')).to_be_hidden()
    assert page.request.get(studio.base + "/api/v1/runs").json()["total"] == runs_before


def test_run_log_shows_its_tail_then_earlier_lines(page, studio: Studio):
    """A long log: the last 500 lines first, the rest behind "Load earlier lines"."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from app.store.models import LogLine, Run

    engine = create_engine(f"sqlite:///{studio.log.parent / 'studio.db'}")
    with Session(engine) as session, session.begin():
        run = Run(name="long log", tokenizer="char", val_fraction=0.1, config={},
                  state="cancelled", max_iters=10)  # fmt: skip
        session.add(run)
        session.flush()
        session.add_all(LogLine(run_id=run.id, line=f"line {i}") for i in range(1, 1235))
        run_id = run.id
    engine.dispose()

    page.goto(f"{studio.base}/runs/{run_id}")
    log = page.locator("[data-log]")
    earlier = page.get_by_role("button", name="Load earlier lines")
    expect(page.locator("[data-log-count]")).to_have_text("the last 500 lines")
    expect(log).to_contain_text("line 1234")
    assert log.text_content().startswith("line 735\n")
    with page.expect_response(lambda r: "before=" in r.url):
        earlier.click()
    expect(page.locator("[data-log-count]")).to_have_text("1,234 lines")
    expect(earlier).to_be_hidden()
    lines = log.text_content().split("\n")
    assert lines == [f"line {i}" for i in range(1, 1235)]
