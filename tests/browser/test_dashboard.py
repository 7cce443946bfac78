"""The dashboard in a real browser (headless Chromium) against `nanogpt-studio serve`:
sign in, upload, prepare (characters, and a BPE trained on the text), start a tiny run from
the form, watch the chart grow, reload mid-run, cancel, resume, sample with streaming and
stop, clone, compare, error pages, the connection notice, a phone and a dark screen.
Screenshots go to test-artifacts/screenshots/.

The tests run in file order and hand ids on through `studio.handoffs` (a test whose
prerequisite failed fails with that error); the machine may be busy, so every wait is on
something the page shows, never on a fixed time."""

from __future__ import annotations

import re

import pytest
from browser_helpers import REPO, Studio, assert_labelled, new_context, screenshot
from playwright.sync_api import expect

SAMPLE = REPO / "app" / "sample_data" / "tinyshakespeare.txt"
LONG = 120_000  # ms: worker start-up (torch import) and a busy machine
TINY = {
    "n_layer": 1,
    "n_head": 2,
    "n_embd": 32,
    "block_size": 32,
    "batch_size": 8,
    "max_iters": 6000,
    "lr_decay_iters": 6000,
    "warmup_iters": 20,
    "eval_interval": 100,
    "eval_iters": 4,
    "log_interval": 5,
}


def points(page) -> int:
    """How many points the chart holds, as its status line says."""
    text = page.locator("[data-chart-status]").text_content() or ""
    match = re.match(r"([\d,]+) points", text)
    return int(match.group(1).replace(",", "")) if match else 0


def wait_for_points(page, more_than: int, timeout_ms: int = LONG) -> int:
    for _ in range(timeout_ms // 250):
        count = points(page)
        if count > more_than:
            return count
        page.wait_for_timeout(250)
    raise AssertionError(f"the chart stayed at {points(page)} points (wanted > {more_than})")


def iteration(page) -> int:
    return int((page.locator('[data-fig="iter"]').text_content() or "0").replace(",", ""))


def test_the_printed_url_signs_in_and_drops_the_token(browser, studio: Studio, console):
    context = new_context(browser, studio, signed_in=False)
    page = context.new_page()
    console.watch(page)
    page.goto(studio.login_url)
    assert page.url == studio.base + "/"
    assert "token" not in page.url
    expect(page.get_by_role("button", name="Try it with Tiny Shakespeare").first).to_be_visible()
    screenshot(page, "01-home-empty")
    context.close()

    context = new_context(browser, studio, signed_in=False)
    page = context.new_page()
    console.watch(page)
    page.goto(studio.base + "/runs/new?token=a-stale-token")  # a link from another server
    assert "/login?next=" in page.url and "a-stale-token" not in page.url
    expect(page.get_by_role("alert")).to_contain_text(
        "That link's token is not valid for this server"
    )
    page.goto(studio.base + "/runs/new")
    assert "/login?next=" in page.url
    assert_labelled(page)
    page.get_by_label("Access token").fill("not-the-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("That token is not right")
    screenshot(page, "02-login")
    page.get_by_label("Access token").fill(studio.token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(studio.base + "/runs/new")
    context.close()
    assert not console.problems, console.problems


@pytest.mark.provides("dataset")
def test_upload_refuses_clearly_then_takes_a_text_file(page, studio: Studio):
    page.goto(studio.base + "/upload")
    assert_labelled(page)
    error = page.locator("[data-upload-error]")
    page.set_input_files("#file", {"name": "empty.txt", "mimeType": "text/plain", "buffer": b""})
    expect(error).to_contain_text("is empty")
    big = {"name": "big.txt", "mimeType": "text/plain", "buffer": b"a" * 3_000_001}
    page.set_input_files("#file", big)
    expect(error).to_contain_text("is 3,000,001 bytes, over the limit of 3,000,000 bytes")
    binary = {"name": "model.bin", "mimeType": "application/octet-stream", "buffer": b"\0\1\2" * 99}
    page.set_input_files("#file", binary)
    expect(error).to_contain_text("not a text file")  # the API's own message (415)
    latin1 = {
        "name": "latin1.txt",
        "mimeType": "text/plain",
        "buffer": "café\n".encode("latin-1") * 50,
    }
    page.set_input_files("#file", latin1)
    expect(error).to_contain_text("UTF-8")
    screenshot(page, "03-upload-refused")

    page.set_input_files("#file", str(SAMPLE))
    page.wait_for_url(re.compile(r"/datasets/\d+$"), timeout=LONG)
    studio.handoffs.give("dataset", int(page.url.rsplit("/", 1)[1]))
    expect(page.locator('[data-stat="characters"]')).to_have_text("1,115,394")
    expect(page.locator(".vocab li")).to_have_count(65)


def test_prepare_shows_progress_and_the_result(page, studio: Studio):
    dataset = studio.handoffs.need("dataset")
    page.goto(f"{studio.base}/datasets/{dataset}")
    assert_labelled(page)
    page.get_by_role("button", name="Prepare").click()
    row = page.locator("[data-preparations] tbody tr").first
    expect(row).to_contain_text("char")
    expect(row.locator(".state")).to_have_text("ready", timeout=LONG)
    expect(row).to_contain_text("65")  # vocabulary
    screenshot(page, "04-dataset")


def test_prepare_with_a_bpe_trained_on_the_text(page, studio: Studio):
    dataset = studio.handoffs.need("dataset")
    page.goto(f"{studio.base}/datasets/{dataset}")
    vocab = page.locator('[name="vocab_size"]')
    expect(vocab).to_be_hidden()  # asked for only when a BPE is to be trained
    page.get_by_label("BPE trained on this text").check()
    expect(vocab).to_be_visible()
    assert_labelled(page)
    vocab.fill("100")
    page.get_by_role("button", name="Prepare").click()
    expect(page.locator('[data-error-for="vocab_size"]')).to_contain_text("256")
    vocab.fill("300")
    page.get_by_role("button", name="Prepare").click()
    row = page.locator("[data-preparations] tbody tr", has_text="bpe-300")
    expect(row.locator(".state")).to_have_text("ready", timeout=LONG)
    expect(row.locator("td").nth(3)).to_have_text("300")  # vocabulary
    expect(row.locator("td").nth(4)).to_have_text(re.compile(r"^0\.\d{3}$"))  # tokens per char
    char = page.locator("[data-preparations] tbody tr", has_text="char")
    expect(char.locator("td").nth(4)).to_have_text("1.000")


@pytest.mark.provides("run")
def test_new_run_form_derives_validates_and_starts(page, studio: Studio):
    dataset = studio.handoffs.need("dataset")
    page.goto(f"{studio.base}/datasets/{dataset}")
    page.locator("#main").get_by_role("link", name="New run").click()
    expect(page).to_have_url(re.compile(r"/runs/new\?dataset=\d+"))
    page.wait_for_load_state()
    assert_labelled(page)
    page.locator("[data-more-knobs] > summary").click()  # the knobs past the basics
    for name, value in TINY.items():
        page.locator(f'[name="{name}"]').fill(str(value))
    # Exact: 65·32 + 32·32 + 1·(12·32² + 2·32) + 32 parameters, vocabulary from the preparation.
    params = page.locator('[data-derived="params"]')
    expect(params).to_have_text("15.5k")
    expect(params).to_have_attribute("title", re.compile(r"^15,488 in all"))
    expect(page.locator('[data-derived="tokens_per_iter"]')).to_have_text("256")
    expect(page.locator('[data-derived="epochs"]')).to_have_text("1.53")  # 256·6000 / 1,003,854

    # The server's checks as you type (a dry run; see test_api_pages.py)…
    page.locator('[name="n_head"]').fill("3")
    expect(page.locator('[data-error-for="n_embd"]')).to_contain_text("divisible by n_head")
    page.locator('[name="n_head"]').fill("2")
    expect(page.locator('[data-error-for="n_embd"]')).to_be_hidden()
    # …and on Start: its message beside the field.
    page.locator('[name="dropout"]').fill("1.5")
    page.get_by_role("button", name="Start training").click()
    expect(page.locator('[data-error-for="dropout"]')).to_have_text(
        "dropout must be at least 0 and below 1"
    )
    expect(page.locator('[name="dropout"]')).to_have_attribute("aria-invalid", "true")
    page.locator('[name="dropout"]').fill("0")

    curl = page.locator('[data-command="curl"]').text_content()
    assert f"{studio.base}/api/v1/runs" in curl and '"n_embd":32' in curl
    assert '"preset":"tiny-cpu"' in curl and "Bearer $STUDIO_TOKEN" in curl
    cli = page.locator('[data-command="cli"]').text_content()
    assert "nanogpt-studio prepare" in cli and "--preset tiny-cpu" in cli
    assert "--n_embd=32" in cli and "--max_iters=6000" in cli
    page.get_by_role("button", name="Copy as curl").click()
    expect(page.locator("[data-copy-status]")).not_to_be_empty()
    screenshot(page, "05-new-run")

    page.get_by_role("button", name="Start training").click()
    page.wait_for_url(re.compile(r"/runs/\d+$"), timeout=LONG)
    studio.handoffs.give("run", int(page.url.rsplit("/", 1)[1]))


def test_run_page_live_chart_reload_cancel_resume(page, studio: Studio):
    run = studio.handoffs.need("run")
    page.goto(f"{studio.base}/runs/{run}")
    assert_labelled(page)
    first = wait_for_points(page, 2)
    grown = wait_for_points(page, first)  # live points from the stream
    assert grown > first
    expect(page.locator('[data-fig="device"]')).to_have_text("cpu")
    expect(page.locator('[data-fig="tokens_per_sec"]')).not_to_have_text("—")
    expect(page.locator("[data-log]")).to_contain_text("iter ")
    page.locator("[data-smoothing]").fill("0.9")
    expect(page.locator("[data-smoothing-value]")).to_have_text("0.90")
    page.get_by_label("Log scale").check()
    page.locator("[data-chart] .u-over").first.hover()  # the hover readout fills the legend
    expect(page.locator("[data-chart] .u-legend").first).to_contain_text("train")
    screenshot(page, "06-run-live")

    # Reload mid-run: the whole history comes back, then it carries on live.
    before = points(page)
    page.reload()
    after = wait_for_points(page, 0)
    assert after >= before * 0.9  # the history (downsampled at most to 2,000)
    wait_for_points(page, after)

    page.once("dialog", lambda dialog: dialog.accept())  # Cancel asks first
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator('.page-head [data-field="state"]')).to_have_text("cancelled", timeout=LONG)
    stopped_at = iteration(page)
    expect(page.locator("[data-checkpoints]")).to_contain_text("ckpt.pt", timeout=LONG)

    page.get_by_role("button", name="Resume").click()
    expect(page.locator('.page-head [data-field="state"]')).to_have_text(
        re.compile("queued|running"), timeout=LONG
    )
    for _ in range(LONG // 250):
        if iteration(page) > stopped_at:
            break
        page.wait_for_timeout(250)
    assert iteration(page) > stopped_at, "the resumed run did not go on"
    page.once("dialog", lambda dialog: dialog.accept())  # Cancel asks first
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator('.page-head [data-field="state"]')).to_have_text("cancelled", timeout=LONG)


def test_sampling_streams_and_stops(page, studio: Studio):
    run = studio.handoffs.need("run")
    page.goto(f"{studio.base}/runs/{run}")
    expect(page.locator("[data-checkpoints]")).to_contain_text("ckpt.pt")
    output = page.locator("[data-sample-output]")
    page.evaluate(
        """() => {
          window.__pieces = 0;
          new MutationObserver((records) => { window.__pieces += records.length; })
            .observe(document.querySelector('[data-sample-output]'), {childList: true});
        }"""
    )
    page.get_by_label("Prompt").fill("ROMEO:")
    page.get_by_label("Max tokens").fill("200")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("[data-sample-status]")).to_have_text(re.compile("^Done"), timeout=LONG)
    assert output.text_content().startswith("ROMEO:")
    assert len(output.text_content()) > len("ROMEO:") + 50
    assert page.evaluate("() => window.__pieces") > 10, "the text arrived all at once"
    screenshot(page, "07-run-sampled")

    page.get_by_label("Max tokens").fill("10000")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("[data-sample-status]")).to_contain_text("Generating", timeout=LONG)
    page.get_by_role("button", name="Stop").click()
    expect(page.locator("[data-sample-status]")).to_have_text("Stopped.")
    expect(page.get_by_role("button", name="Generate")).to_be_enabled()

    link = page.locator("[data-checkpoints] a", has_text="Download").first
    href = link.get_attribute("href")
    assert re.fullmatch(rf"/api/v1/runs/{run}/checkpoints/(ckpt|best)\.pt", href)
    response = page.request.get(studio.base + href)
    assert response.status == 200 and len(response.body()) > 10_000


def test_clone_with_changes_then_compare(page, studio: Studio):
    run = studio.handoffs.need("run")
    page.goto(f"{studio.base}/runs/{run}")
    page.get_by_role("link", name="Clone").click()
    expect(page).to_have_url(re.compile(rf"/runs/new\?from={run}$"))
    page.wait_for_load_state()
    expect(page.locator('[name="n_embd"]')).to_have_value("32")
    page.locator('[name="n_embd"]').fill("48")
    page.locator('[name="max_iters"]').fill("200")
    # the source's lr_decay_iters followed its max_iters, so the clone's follows its own (the
    # server derives it; the form shows it and leaves it out of the request)
    expect(page.locator('[name="lr_decay_iters"]')).to_have_value("200")
    curl = page.locator('[data-command="curl"]')
    expect(curl).to_contain_text(f"/api/v1/runs/{run}/clone")
    expect(curl).to_contain_text('"n_embd":48')
    expect(curl).not_to_contain_text("lr_decay_iters")
    page.get_by_role("button", name="Start training").click()
    page.wait_for_url(re.compile(r"/runs/\d+$"), timeout=LONG)
    clone = int(page.url.rsplit("/", 1)[1])
    assert clone != run
    wait_for_points(page, 1)

    page.goto(f"{studio.base}/compare?run={run}&run={clone}")
    assert_labelled(page)
    expect(page.locator("[data-chart-status]")).to_contain_text("2 runs")
    row = page.locator("tr:has(th code:text-is('n_embd'))")
    expect(row).to_contain_text("32")
    expect(row).to_contain_text("48")
    page.get_by_label("Show").select_option("both")
    screenshot(page, "08-compare")


def test_error_page_and_connection_notice(page, studio: Studio):
    response = page.goto(f"{studio.base}/runs/987654")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.get_by_role("link", name="Go to the home page")).to_be_visible()
    screenshot(page, "09-not-found")

    page.goto(studio.base + "/")
    notice = page.locator("#connection")
    page.context.set_offline(True)
    expect(notice).to_have_text("Connection lost. Reconnecting…")
    page.context.set_offline(False)
    expect(notice).to_have_text("Connected again.", timeout=15_000)
    expect(notice).to_be_hidden(timeout=10_000)


def test_phone_and_dark_screens(browser, studio: Studio, console):
    run = studio.handoffs.need("run")
    phone = new_context(
        browser, studio, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = phone.new_page()
    console.watch(page)
    for path, name in (("/", "10-home-phone"), (f"/runs/{run}", "11-run-phone")):
        page.goto(studio.base + path)
        page.wait_for_timeout(1500)
        overflow = page.evaluate("() => document.documentElement.scrollWidth - innerWidth")
        assert overflow <= 1, f"{path} scrolls sideways on a phone by {overflow}px"
        screenshot(page, name)
    phone.close()

    dark = new_context(browser, studio, color_scheme="dark")
    page = dark.new_page()
    console.watch(page)
    page.goto(studio.base + "/")
    screenshot(page, "12-home-dark")
    if run:
        page.goto(f"{studio.base}/runs/{run}")
        wait_for_points(page, 0)
        screenshot(page, "13-run-dark")
    page.goto(studio.base + "/runs/new")
    screenshot(page, "14-new-run-dark")
    dark.close()
    assert not console.problems, console.problems


def test_keyboard_reaches_the_main_actions(page, studio: Studio):
    page.goto(studio.base + "/")
    focused = "() => (document.activeElement?.textContent || '').trim()"
    page.keyboard.press("Tab")
    assert page.evaluate(focused) == "Skip to content"
    reached: set[str] = set()
    for _ in range(30):
        page.keyboard.press("Tab")
        reached.add(page.evaluate(focused))
    for label in ("Upload", "New run", "Compare", "Sign out", "Try it with Tiny Shakespeare"):
        assert label in reached, f"{label} is not reachable with Tab"
    # Focus is visible: the stylesheet's outline, not the browser's default removed.
    page.locator("a.brand").focus()
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"


MODULE_CHECKS = """async () => {
  const { localProblems } = await import('/static/js/field_errors.js');
  const { smooth } = await import('/static/js/smoothing.js');
  const { MetricStore } = await import('/static/js/metric_store.js');
  const { readEvents } = await import('/static/js/post_sse.js');
  const { shellQuote } = await import('/static/js/commands.js');
  const { showEffects } = await import('/static/js/knob_effects.js');
  const effects = document.createElement('div');
  showEffects(effects, [
    { knob: 'learning_rate', kind: 'number', correlation: -0.9, choices: [], points: [
      { value: 0.001, val_bpc: 2.5, complete: true }, { value: 0.01, val_bpc: 2.1, complete: true },
      { value: 0.1, val_bpc: 3.0, complete: false }] },
    { knob: 'n_layer', kind: 'choices', correlation: null, points: [], choices: [
      { value: 4, trials: 2, best: 2.1, mean: 2.2 },
      { value: 2, trials: 1, best: 2.4, mean: 2.4 }] },
  ], { learning_rate: { low: 0.001, high: 0.1, log: true } });
  const store = new MetricStore(40);
  for (let i = 1; i <= 100; i++) {
    store.add({ id: i, iter: i, train_loss: 5 - i / 50, val_loss: i % 25 ? null : 4, lr: 1e-3 });
  }
  store.add({ id: 101, iter: 99, train_loss: 1.5, val_loss: null, lr: 1e-3 });  // again
  const stream = new ReadableStream({ start(c) {
    const enc = new TextEncoder();
    const parts = ['retry: 2000\\n\\nevent: tok', 'en\\ndata: {"text":"é"}\\n',
                   '\\n: keep\\n\\nevent: done\\ndata: {}\\n\\n'];
    for (const part of parts) c.enqueue(enc.encode(part));
    c.close();
  } });
  const events = [];
  for await (const e of readEvents(stream)) events.push([e.event, e.data]);
  const cols = store.columns();
  return {
    flat: smooth([1, null, 1, 1], 0.9),
    size: store.size,
    sorted: cols.x.every((x, i) => i === 0 || x > cols.x[i - 1]),
    vals: cols.val.filter((v) => v != null).length,
    replaced: cols.train[cols.x.indexOf(99)],
    events,
    quoted: shellQuote("it's"),
    effects: [...effects.querySelectorAll('figure')].map((f) => ({
      caption: f.querySelector('figcaption').textContent,
      filled: [...f.querySelectorAll('circle')].map((c) => c.getAttribute('fill') !== 'none'),
      rows: f.querySelectorAll('tbody tr').length })),
    problems: localProblems({ n_embd: null, n_head: 4, dropout: NaN, bias: false,
      init_from: 'scratch' }).map((p) => p.field),
  };
}"""


def test_the_pure_modules_compute_what_they_promise(page, studio: Studio):
    """Smoothing, the metric store, the POST-SSE parser, shell quoting, a sweep's knob
    effects, the form's own check
    (the figures of a run are the server's: tests/engine/test_memory_estimate.py)."""
    page.goto(studio.base + "/")
    result = page.evaluate(MODULE_CHECKS)
    assert result["flat"] == [1, None, 1, 1]  # debiased: a flat line stays flat
    assert result["size"] < 100 and result["sorted"]  # thinned, still in order
    assert result["vals"] == 4  # every evaluation survives thinning
    assert result["replaced"] == 1.5  # a later point at the same iteration wins
    assert result["events"] == [["token", '{"text":"é"}'], ["done", "{}"]]
    assert result["quoted"] == "'it'\\''s'"
    # a sweep's knob effects: a number knob's points (pruned hollow) and its verdict, a
    # choice knob's table, best first
    number, choice = result["effects"]
    assert number == {"caption": "learning_rate higher is better (ρ = -0.9, strong)",
                      "filled": [True, True, False], "rows": 0}  # fmt: skip
    assert choice == {"caption": "n_layer best: 4", "filled": [], "rows": 2}
    assert result["problems"] == ["n_embd", "dropout"]  # empty fields; the rest is the server's
