"""The run page's Export panel in a real browser: export the run as Hugging Face GPT-2, watch it
become ready, download the .zip through the page's link, and load it with transformers.

Uses the run test_dashboard.py trained when it ran first (it has a ckpt.pt by then); alone,
it trains a tiny one through the API."""

from __future__ import annotations

import zipfile
from pathlib import Path

from browser_helpers import LONG, Studio, a_run_with_a_checkpoint, assert_labelled, screenshot
from playwright.sync_api import expect


def test_export_from_the_page_downloads_an_archive_transformers_loads(
    page, studio: Studio, tmp_path: Path
):
    from transformers import GPT2LMHeadModel

    run = a_run_with_a_checkpoint(page, studio)
    page.goto(f"{studio.base}/runs/{run}")
    panel = page.locator("[data-exports]")
    expect(panel.get_by_role("heading", name="Export")).to_be_visible()
    assert_labelled(page)
    panel.get_by_label("Format").select_option("hf")
    panel.get_by_label("From checkpoint").select_option("latest")
    panel.get_by_role("button", name="Export").click()
    row = panel.locator("[data-export-list] tbody tr").first
    expect(row).to_contain_text("Hugging Face")
    expect(row.locator(".state")).to_have_text("ready", timeout=LONG)
    screenshot(page, "17-run-exported")

    with page.expect_download() as download:
        row.get_by_role("link", name="Download").click()
    archive = tmp_path / download.value.suggested_filename
    download.value.save_as(archive)
    assert archive.name.startswith(f"run{run}-hf-") and archive.suffix == ".zip"
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp_path)
    model, info = GPT2LMHeadModel.from_pretrained(tmp_path / f"run{run}-hf",
                                                  output_loading_info=True)  # fmt: skip
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    assert model.config.model_type == "gpt2" and model.config.n_embd > 0
