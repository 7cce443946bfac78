"""The run page's Evaluate panel in a real browser: evaluate the run on pasted text, watch it
become ready with its figures, refuse an empty text in the form, then see the run ranked on
the compare page after an evaluation on a dataset."""

from __future__ import annotations

from browser_helpers import LONG, Studio, a_run_with_a_checkpoint, assert_labelled, screenshot
from playwright.sync_api import expect


def test_evaluate_from_the_page_shows_the_figures(page, studio: Studio):
    run = a_run_with_a_checkpoint(page, studio)
    page.goto(f"{studio.base}/runs/{run}")
    panel = page.locator("[data-evaluations]")
    expect(panel.get_by_role("heading", name="Evaluate on your text")).to_be_visible()
    assert_labelled(page)

    panel.get_by_role("button", name="Evaluate").click()  # no dataset, no text: refused
    expect(panel.locator("[data-error-for='text']")).to_contain_text("is empty")

    panel.get_by_label("Or paste text").fill("ROMEO: What say you?")
    panel.get_by_role("button", name="Evaluate").click()
    row = panel.locator("[data-evaluation-list] tbody tr").first
    expect(row).to_contain_text("pasted text")
    expect(row.locator(".state")).to_have_text("ready", timeout=LONG)
    api = studio.base + "/api/v1"
    [made] = page.request.get(f"{api}/runs/{run}/evaluations").json()[:1]
    expect(row).to_contain_text(f"{made['bits_per_char']:.4f}")
    screenshot(page, "18-run-evaluated")

    dataset = page.request.get(f"{api}/datasets").json()["items"][0]
    panel.get_by_label("Or paste text").fill("")
    panel.get_by_label("Dataset").select_option(str(dataset["id"]))
    panel.get_by_role("button", name="Evaluate").click()
    newest = panel.locator("[data-evaluation-list] tbody tr").first
    expect(newest).to_contain_text(dataset["name"])
    expect(newest.locator(".state")).to_have_text("ready", timeout=LONG)

    page.goto(f"{studio.base}/compare?run={run}")
    ranking = page.locator("[data-eval-ranking]")
    expect(ranking.locator(f'[data-ranked-run="{run}"]')).to_contain_text("1")
    assert_labelled(page)
