"""A run's page and Compare in a real browser, on runs of their own (independent of
test_dashboard.py's order): the phase is told before the first point, Generate waits for the
first checkpoint and says when it comes; Compare picks runs without a reload and follows a
running one live; two samples differ, and the seed shown makes the same text again; the
chart's x axis switches, its history downloads as CSV and the chart as a PNG."""

from __future__ import annotations

import base64
import re

import httpx
import pytest
from browser_helpers import Studio, screenshot
from playwright.sync_api import expect

LONG = 240_000  # ms: a run behind another, its process's start-up, and a busy machine
TINY = {"n_layer": 1, "n_head": 2, "n_embd": 32, "block_size": 32, "batch_size": 8,
        "warmup_iters": 5, "eval_iters": 2, "log_interval": 5, "compile": False}  # fmt: skip
# Pixels not of the background in a PNG's top and bottom bands (the title's and the
# legend's), beside the height of the PNG and of the chart's canvas it was made from.
INKED_BANDS = """async (data) => {
  const img = new Image();
  img.src = "data:image/png;base64," + data;
  await img.decode();
  const canvas = document.createElement("canvas");
  canvas.width = img.width;
  canvas.height = img.height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0);
  const plot = document.querySelector("[data-chart] canvas");
  const band = Math.round(24 * (img.width / plot.clientWidth));
  const inked = (y) => {
    const d = ctx.getImageData(0, y, img.width, band).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i] !== d[0] || d[i + 1] !== d[1] || d[i + 2] !== d[2]) n++;
    }
    return n;
  };
  const legend = inked(img.height - band);
  return { height: img.height, plot_height: plot.height, title: inked(0), legend };
}"""
PHASES = r"(preparing|queued|starting|compiling|the first evaluation)"


def points(page) -> int:
    match = re.search(r"([\d,]+) points", page.locator("[data-chart-status]").text_content() or "")
    return int(match.group(1).replace(",", "")) if match else 0


@pytest.fixture(scope="module")
def runs(studio: Studio) -> dict[str, int]:
    """A finished run with a checkpoint (`done`: test_dashboard.py's clone when it ran first,
    else a short one made here) and a long one started now (`live`)."""
    headers = {"Authorization": f"Bearer {studio.token}"}
    with httpx.Client(base_url=studio.base + "/api/v1", headers=headers, timeout=60) as api:
        dataset = api.post("/datasets/sample")
        assert dataset.status_code in (200, 201), dataset.text

        def start(name: str, **config: int) -> int:
            body = {"dataset_id": dataset.json()["id"], "name": name,
                    "config": {**TINY, **config}}  # fmt: skip
            response = api.post("/runs", json=body)
            assert response.status_code == 201, response.text
            return response.json()["id"]

        finished = api.get("/runs", params={"state": "succeeded"}).json()["items"]
        with_checkpoint = [
            r["id"] for r in finished
            if any(c["name"] == "ckpt.pt" for c in api.get(f"/runs/{r['id']}/checkpoints").json())
        ]  # fmt: skip
        done = (
            with_checkpoint[0]
            if with_checkpoint
            else start("short one", max_iters=30, lr_decay_iters=30, eval_interval=30)
        )
        # long enough to still be running at the last test on a quick machine (each cancels it)
        live = start("long one", max_iters=500_000, lr_decay_iters=500_000, eval_interval=50)
    return {"done": done, "live": live}


def test_the_phase_shows_before_the_first_point_and_generate_waits(page, studio, runs):
    page.goto(f"{studio.base}/runs/{runs['live']}")
    status = page.locator("[data-chart-status]")
    expect(status).to_have_text(re.compile(rf"^No points yet: {PHASES}"))
    expect(page.locator('[data-field="state_note"]')).to_have_text(re.compile(rf"^{PHASES}"))
    generate = page.get_by_role("button", name="Generate")
    expect(generate).to_be_disabled()
    expect(page.locator("[data-sample-why]")).to_have_text(
        "Generate needs a checkpoint: the first is written at iteration 50."
    )
    expect(page.locator("[data-checkpoints-empty]")).to_contain_text("iteration 50")
    screenshot(page, "20-run-phase")
    # Cancel asks first; saying no leaves the run alone.
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("button", name="Cancel")).to_be_enabled()
    assert asked and asked[0].startswith("Cancel “long one”?"), asked
    run = page.request.get(f"{studio.base}/api/v1/runs/{runs['live']}").json()
    assert not run["cancel_requested"] and run["state"] in ("preparing", "queued", "running"), run
    # Long log lines wrap in their box rather than being cut.
    assert page.locator("[data-log]").evaluate("(e) => getComputedStyle(e).whiteSpace") == (
        "pre-wrap"
    )
    expect(status).to_have_text(re.compile(r"^[\d,]+ points"), timeout=LONG)
    # Once steps are plotted, the phase line no longer says the run is evaluating.
    expect(page.locator('[data-field="state_note"]')).to_have_text("", timeout=LONG)
    expect(generate).to_be_enabled(timeout=LONG)  # ckpt.pt at iteration 50
    expect(page.locator("[data-sample-why]")).to_be_hidden()


def test_compare_picks_runs_without_a_reload_and_follows_a_live_one(page, studio, runs):
    page.goto(f"{studio.base}/compare")  # nothing picked: no chart, and no error (fixture)
    expect(page.get_by_text("Pick runs to compare")).to_be_visible()
    page.evaluate("() => { window.__samePage = true; }")
    page.locator(f"#pick-{runs['done']}").check()
    status = page.locator("[data-chart-status]")
    expect(status).to_contain_text("1 runs")
    page.locator(f"#pick-{runs['live']}").check()
    expect(status).to_contain_text("2 runs")
    expect(status).to_contain_text("following 1 live")
    assert page.evaluate("() => window.__samePage") is True, "the page was reloaded"
    picked = sorted(int(i) for i in re.findall(r"run=(\d+)", page.url))
    assert "/compare?" in page.url and picked == sorted(runs.values())
    expect(page.locator("tr:has(th code:text-is('max_iters'))")).to_contain_text("500000")
    first = points(page)
    for _ in range(LONG // 250):
        if points(page) > first:
            break
        page.wait_for_timeout(250)
    assert points(page) > first, "the running run's points did not arrive live"
    page.get_by_label("Show").select_option("val")
    page.locator("[data-smoothing]").fill("0.9")
    expect(page.locator("[data-smoothing-value]")).to_have_text("0.90")
    screenshot(page, "21-compare-live")
    page.go_back()
    expect(status).to_contain_text("1 runs")
    assert page.evaluate("() => window.__samePage") is True

    stop = page.request.post(f"{studio.base}/api/v1/runs/{runs['live']}/cancel")
    assert stop.ok, stop.text()  # the train worker is free for the tests after these


def test_two_samples_differ_and_the_shown_seed_makes_one_again(page, studio, runs):
    page.goto(f"{studio.base}/runs/{runs['done']}")
    expect(page.locator('.page-head [data-field="state"]')).to_have_text("succeeded", timeout=LONG)
    page.get_by_label("Prompt").fill("ROMEO:")
    page.get_by_label("Max tokens").fill("60")
    output = page.locator("[data-sample-output]")
    done = page.locator("[data-sample-status]")

    def generate() -> tuple[str, str]:
        page.get_by_role("button", name="Generate").click()
        expect(done).to_have_text(re.compile("^Done"), timeout=LONG)
        return output.text_content(), page.locator("[data-sample-seed-value]").text_content()

    first, first_seed = generate()
    second, second_seed = generate()
    assert first_seed != second_seed and first != second
    entries = page.locator("[data-sample-history] li")
    expect(entries).to_have_count(2)
    expect(entries.first).to_contain_text(f"seed {second_seed}")
    # The older sample's settings back in the form, its seed included: the same text.
    entries.nth(1).get_by_role("button", name="Use these settings").click()
    expect(page.get_by_label("Seed")).to_have_value(first_seed)
    again, again_seed = generate()
    assert (again, again_seed) == (first, first_seed)
    expect(entries).to_have_count(3)
    # A seed past 2**53, which a JS number cannot hold: sent as its digits, a JSON number
    # (bodies are strict), and answered back whole.
    page.get_by_label("Seed").fill("9007199254740993")
    assert generate()[1] == "9007199254740993"
    expect(entries).to_have_count(4)
    screenshot(page, "22-run-samples")

    # The chart's x axis by tokens seen; its history as CSV, the chart as PNG.
    page.locator("[data-x-axis]").select_option("tokens")
    expect(page.locator("[data-chart] .u-legend")).to_contain_text("tokens seen")
    with page.expect_download() as csv_file:
        page.get_by_role("link", name="Download CSV").click()
    assert csv_file.value.suggested_filename == f"run{runs['done']}-metrics.csv"
    with open(csv_file.value.path(), encoding="utf-8") as f:
        assert f.readline().startswith("id,iter,train_loss,val_loss")
    with page.expect_download() as png_file:
        page.get_by_role("button", name="Download PNG").click()
    assert png_file.value.suggested_filename == f"run{runs['done']}-loss.png"
    with open(png_file.value.path(), "rb") as f:
        png = f.read()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    # The plot with a title band above it and a legend band below, both written in.
    bands = page.evaluate(INKED_BANDS, base64.b64encode(png).decode())
    assert bands["height"] > bands["plot_height"], bands
    assert bands["title"] > 50 and bands["legend"] > 50, bands
