"""The run form's checks in a real browser: every field error at once, the memory guard
refusing with a size that fits (and that size accepted), the schedule following max_iters and
the warnings of one typed in, a config
downloaded from one run loaded into the form for another (and a nanoGPT config/*.py with its
ignored lines), and Start within reach on a phone."""

from __future__ import annotations

import re

from browser_helpers import Studio, dataset_id, new_context, open_form, screenshot
from playwright.sync_api import expect

SMALL = {"n_layer": 1, "n_head": 2, "n_embd": 32, "block_size": 32, "batch_size": 4,
         "max_iters": 20, "lr_decay_iters": 20, "warmup_iters": 2, "eval_interval": 10,
         "eval_iters": 2, "learning_rate": 2e-3}  # fmt: skip
NANOGPT_PY = """import time
n_layer = 2
n_head = 2
n_embd = 48
wandb_run_name = 'mini-gpt' + str(time.time())
max_iters = 300
lr_decay_iters = 300
"""


def test_every_field_error_at_once_and_the_schedule_offers(page, studio: Studio):
    open_form(page, studio)
    expect(page.locator("[data-more-knobs]")).not_to_have_attribute("open", "")
    page.locator('[name="block_size"]').fill("2000000")
    with page.expect_response(lambda r: "dry_run=true" in r.url and r.status == 422):
        page.locator('[name="n_embd"]').fill("65")
    page.locator("[data-more-knobs] > summary").click()
    with page.expect_response(lambda r: "dry_run=true" in r.url and r.status == 422):
        page.locator('[name="dropout"]').fill("1.5")
    errors = page.locator("[data-error-for]:visible")
    expect(errors).to_have_count(3)  # all at once, each beside its field
    expect(page.locator('[data-error-for="n_embd"]')).to_contain_text("divisible by n_head")
    expect(page.locator('[data-error-for="dropout"]')).to_contain_text("below 1")
    block_error = page.locator('[data-error-for="block_size"]')
    expect(block_error).to_contain_text("fits both splits is")
    page.locator('[name="dropout"]').fill("0")
    page.locator('[name="n_embd"]').fill("64")
    # those two are gone; the block_size stays, and with it the memory guard's (said under
    # n_embd) once a train worker has reported its device
    expect(page.locator('[data-error-for="dropout"]')).to_be_hidden()
    expect(page.locator('[data-error-for="n_embd"]')).not_to_contain_text("divisible by n_head")
    expect(block_error).to_be_visible()
    fits = re.search(r"fits both splits is ([\d,]+)", block_error.text_content() or "").group(1)
    page.locator('[name="block_size"]').fill(fits.replace(",", ""))
    expect(block_error).to_be_hidden()
    expect(page.locator("[data-preset-description]")).to_contain_text("(edited:")
    screenshot(page, "20-run-form-errors")

    # an untouched lr_decay_iters and warmup_iters follow max_iters, as the server derives them
    page.locator('[name="block_size"]').fill("64")
    page.locator('[name="max_iters"]').fill("600")
    expect(page.locator('[name="lr_decay_iters"]')).to_have_value("600")
    expect(page.locator('[name="warmup_iters"]')).to_have_value("60")
    expect(page.locator("[data-warnings]")).to_be_hidden()
    # one typed in stays as typed: a warning, and the offer to move it with max_iters
    page.locator('[name="lr_decay_iters"]').fill("500")
    offer = page.get_by_role("button", name="Set lr_decay_iters to 600 too")
    expect(offer).to_be_visible()
    expect(page.locator('[data-warning-for="lr_decay_iters"]')).to_contain_text("differs from")
    expect(page.locator("[data-warnings]")).to_be_visible()
    curl = page.locator('[data-command="curl"]')
    expect(curl).to_contain_text('"lr_decay_iters":500')
    expect(curl).to_contain_text('"strict":true')  # unaccepted warnings refuse the run
    offer.click()
    expect(page.locator('[name="lr_decay_iters"]')).to_have_value("600")
    expect(page.locator("[data-warnings]")).to_be_hidden()


def test_the_memory_guard_refuses_and_its_suggestion_is_accepted(page, studio: Studio):
    open_form(page, studio)
    for name, value in (("n_layer", "4"), ("n_head", "8"), ("n_embd", "512"),
                        ("block_size", "1024")):  # fmt: skip
        page.locator(f'[name="{name}"]').fill(value)
    page.locator('[name="batch_size"]').fill("65536")  # terabytes of activations
    batch_error = page.locator('[data-error-for="batch_size"]')
    expect(batch_error).to_contain_text("of memory but", timeout=60_000)
    expect(batch_error).to_contain_text("free; batch_size")
    suggested = re.search(r"batch_size (\d+) fits", batch_error.text_content() or "").group(1)
    page.get_by_role("button", name="Start training").click()
    expect(batch_error).to_be_visible()  # refused on Start too
    assert re.search(r"/runs/new", page.url)
    page.locator('[name="batch_size"]').fill(suggested)
    expect(batch_error).to_be_hidden()
    expect(page.locator('[data-derived="memory"]')).to_contain_text("free on")
    screenshot(page, "21-run-form-memory")


def test_a_config_from_one_run_loads_into_the_form_for_another(page, studio: Studio, tmp_path):
    run = studio.handoffs.get("run")
    if run is None:  # this module alone: a small run of its own
        body = {"dataset_id": dataset_id(page, studio), "config": SMALL, "name": "config source"}
        created = page.request.post(f"{studio.base}/api/v1/runs", data=body)
        assert created.ok, created.text()
        run = created.json()["id"]
    source = page.request.get(f"{studio.base}/api/v1/runs/{run}").json()
    page.goto(f"{studio.base}/runs/{run}")
    with page.expect_download() as download:
        page.locator("[data-config-downloads]").get_by_role("link", name="TOML").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name == f"run-{run}.toml"

    open_form(page, studio)
    page.locator("[name=preset]").select_option("shakespeare-char")  # another starting point
    page.locator("[data-load-config]").set_input_files(str(saved))
    expect(page.locator("[data-load-config-status]")).to_contain_text(f"Loaded run-{run}.toml")
    # The file names its run: its dataset, tokenizer, split and name come back too.
    expect(page.locator("[data-load-config-status]")).to_contain_text("and name restored")
    expect(page.locator("[name=name]")).to_have_value(source["name"])
    expect(page.locator("[name=dataset_id]")).to_have_value(str(source["dataset_id"]))
    expect(page.locator("[name=tokenizer]")).to_have_value(source["tokenizer"].split("-")[0])
    for name in ("n_layer", "n_embd", "block_size", "max_iters", "learning_rate", "batch_size"):
        assert float(page.locator(f'[name="{name}"]').input_value()) == source["config"][name]
    with page.expect_response(lambda r: "dry_run=true" in r.url) as answer:
        page.locator("[name=name]").fill("from a file")
    plan = answer.value.json()
    keep = lambda c: {k: v for k, v in c.items() if k not in ("data_dir", "out_dir", "tags")}  # noqa: E731
    assert keep(plan["config"]) == keep(source["config"])  # the same run

    nanogpt = tmp_path / "train_mini.py"
    nanogpt.write_text(NANOGPT_PY, encoding="utf-8")
    page.locator("[data-load-config]").set_input_files(str(nanogpt))
    expect(page.locator("[data-load-config-status]")).to_contain_text("2 lines ignored")
    ignored = page.locator("[data-ignored-lines] li")
    expect(ignored).to_have_count(2)
    expect(ignored.first).to_contain_text("line 1: import time")
    expect(page.locator('[name="n_embd"]')).to_have_value("48")
    expect(page.locator("[name=preset]")).to_have_value("")  # over nanoGPT's own defaults


def test_start_is_within_reach_on_a_phone(browser, studio: Studio, console):
    phone = new_context(
        browser, studio, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = phone.new_page()
    console.watch(page)
    page.goto(f"{studio.base}/runs/new")
    box = page.get_by_role("button", name="Start training").bounding_box()
    assert box is not None and box["y"] < 2600, box  # it sat at ~3,900 px with every knob open
    screenshot(page, "22-run-form-phone")
    phone.close()


def test_the_form_says_what_gpus_the_workers_offer_and_what_a_run_would_wait_for(
    page, studio: Studio
):
    """serve's workers have no GPU: the form says so, and a run asking for one would wait."""
    for _ in range(240):  # the workers report themselves once their devices are probed
        workers = page.request.get(studio.base + "/api/v1/system").json()["workers"]
        if any("train" in w["queues"] for w in workers):
            break
        page.wait_for_timeout(500)
    open_form(page, studio)
    expect(page.locator("[data-gpu-offer]")).to_have_text("No live worker trains on a GPU now.")
    waiting = page.locator("[data-waiting-for]")
    expect(waiting).to_be_hidden()
    page.locator('[name="device"]').fill("auto")
    with page.expect_response(lambda r: "dry_run=true" in r.url and r.status == 200):
        page.locator('[name="gpus"]').fill("1")
    expect(waiting).to_be_visible()
    expect(waiting).to_contain_text("it would wait for a worker with 1 GPU; ")
    page.locator('[name="gpus"]').fill("")
    expect(waiting).to_be_hidden()
