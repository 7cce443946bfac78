"""The form trains what it shows (issue 19): for every preset, "none (nanoGPT's defaults)"
included, the knobs the form displays are the request it sends, the body "Copy as curl"
shows, and the config of the run that request creates."""

from __future__ import annotations

import json
import shlex
from typing import Any

from browser_helpers import Studio, dataset_id, open_form
from playwright.sync_api import expect

from app.planning.run_config import build_config, stored_config
from worker.engine.config.derived import DERIVED_KNOBS
from worker.engine.config.presets import PRESETS

READ_KNOBS = """() => JSON.parse(document.getElementById("page-data").textContent).knobs.map(
  ({name, kind}) => {
    const input = document.querySelector(`[data-run-form] [name="${name}"]`);
    return [name, kind, input.type === "checkbox" ? input.checked : input.value];
  })"""


def shown(page) -> dict[str, Any]:
    """The form's knobs as they read (numbers as numbers, boxes as booleans)."""
    out: dict[str, Any] = {}
    for name, kind, value in page.evaluate(READ_KNOBS):
        if kind == "int":
            out[name] = int(value)
        elif kind == "float":
            out[name] = float(value)
        elif name == "compile":
            out[name] = {"true": True, "false": False}.get(value, value)
        else:
            out[name] = value
    return out


def curl_body(page) -> dict[str, Any]:
    words = shlex.split(page.locator('[data-command="curl"]').text_content() or "")
    return json.loads(words[words.index("-d") + 1])


def test_every_preset_sends_what_it_shows_and_the_run_gets_it(page, studio: Studio):
    open_form(page, studio)
    dataset = dataset_id(page, studio)
    for preset in [*PRESETS, ""]:
        select = page.locator('[name="preset"]')
        with page.expect_response(lambda r: "dry_run=true" in r.url) as answer:
            select.select_option(preset)
        sent = answer.value.request.post_data_json
        plan = answer.value.json() if answer.value.ok else None
        if plan is not None:  # the derived knobs on show are the server's
            for name in DERIVED_KNOBS:
                expect(page.locator(f'[name="{name}"]')).to_have_value(str(plan["config"][name]))
        knobs = shown(page)
        assert sent["dataset_id"] == dataset and sent["preset"] == (preset or None)
        assert curl_body(page) == sent, preset

        # The run's config: the plan a real POST stores (its dry run answers it); where this
        # data or this machine refuses the preset (finetune-gpt2 reads GPT-2 tokens, a 124M
        # model may not fit the CPU), the same plan's config built here from what was sent.
        config = (
            plan["config"]
            if plan
            else stored_config(build_config(preset=sent["preset"], config=sent["config"]))
        )
        differing = {k: (v, config[k]) for k, v in knobs.items() if config[k] != v}
        assert differing == {}, (preset or "none", differing)
        if preset == "":  # nanoGPT's defaults: GPT-2 124M, not the API's tiny-cpu
            assert (config["n_layer"], config["n_embd"], config["max_iters"]) == (12, 768, 600000)
            assert sent["config"]["warmup_iters"] == 2000
