"""Every page fits its window, on a 390 px phone and a 1366 px laptop: the document never
scrolls sideways, nothing inside a panel sticks out of it (text, help, tables outside their
scroll box), and on the laptop every table shows all its columns without scrolling.

Pages: home, upload, a dataset, the new run form, a run page with its exports table,
Compare, a sweep, the API docs, and the login page (signed out)."""

from __future__ import annotations

import pytest
from browser_helpers import Studio, a_run_with_a_checkpoint, new_context, screenshot

WIDTHS = {"phone": 390, "laptop": 1366}

# What does not fit, as sentences: the document's overflow; elements reaching past the right
# edge of their panel (not counting those inside a box that scrolls or clips them); and, when
# `tables_fit`, tables wider than their scroll box.
_MISFITS = """(tablesFit) => {
  const problems = [];
  const name = (e) => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
    (e.className && typeof e.className === "string" ? "." + e.className.split(" ")[0] : "") +
    ` "${(e.textContent || "").trim().slice(0, 40)}"`;
  const wider = document.documentElement.scrollWidth - innerWidth;
  if (wider > 1) problems.push(`the page is ${wider}px wider than the window`);
  const clips = (e, stop) => {
    for (let a = e.parentElement; a && a !== stop; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== "visible") return true;
    }
    return false;
  };
  for (const panel of document.querySelectorAll(".panel, .page-head")) {
    const edge = panel.getBoundingClientRect().right;
    for (const e of panel.querySelectorAll("*")) {
      const box = e.getBoundingClientRect();
      if (!box.width || box.right <= edge + 1 || clips(e, panel)) continue;
      problems.push(`${name(e)} sticks out of its panel by ${Math.round(box.right - edge)}px`);
    }
  }
  if (tablesFit) {
    for (const wrap of document.querySelectorAll(".table-wrap")) {
      if (wrap.offsetParent && wrap.scrollWidth > wrap.clientWidth + 1) {
        const head = [...wrap.querySelectorAll("th")].map((th) => th.textContent.trim());
        const size = `${wrap.scrollWidth}px in ${wrap.clientWidth}px`;
        problems.push(`a table is cut (${size}): ${head.join(" | ")}`);
      }
    }
  }
  return [...new Set(problems)].slice(0, 12);
}"""


@pytest.fixture(scope="module")
def pages(browser, studio: Studio) -> dict[str, str]:
    """The paths to visit: a run with a checkpoint and an export, its dataset, Compare."""
    context = new_context(browser, studio)
    page = context.new_page()
    run = a_run_with_a_checkpoint(page, studio)
    api = f"{studio.base}/api/v1"
    export = page.request.post(f"{api}/runs/{run}/exports", data={"format": "safetensors"})
    assert export.ok, export.text()
    dataset = page.request.get(f"{api}/runs/{run}").json()["dataset_id"]
    others = page.request.get(f"{api}/runs?limit=3").json()["items"]
    space = {"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}}
    tiny = {"n_layer": 1, "n_head": 1, "n_embd": 16, "block_size": 16, "batch_size": 4,
            "max_iters": 10, "eval_interval": 5, "eval_iters": 1, "device": "cpu"}  # fmt: skip
    sweep = page.request.post(
        f"{api}/sweeps",
        data={"dataset_id": dataset, "config": tiny, "space": space, "trials": 1},
    )
    assert sweep.ok, sweep.text()
    sweep_id = sweep.json()["id"]
    context.close()
    compare = "&".join(f"run={i}" for i in dict.fromkeys([run, *(r["id"] for r in others)]))
    return {
        "home": "/",
        "upload": "/upload",
        "dataset": f"/datasets/{dataset}",
        "new-run": f"/runs/new?dataset={dataset}",
        "run": f"/runs/{run}",
        "compare": f"/compare?{compare}",
        "sweep": f"/sweeps/{sweep_id}",
        "docs": "/docs",
        "login": "/login",
    }


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_fits_the_window(browser, studio: Studio, console, pages, width):
    size = {"width": WIDTHS[width], "height": 900}
    phone = width == "phone"
    found = {}
    for signed_in in (True, False):
        context = new_context(
            browser, studio, signed_in=signed_in, viewport=size, is_mobile=phone, has_touch=phone
        )
        page = context.new_page()
        console.watch(page)
        for name, path in pages.items():
            if (name == "login") == signed_in:
                continue
            page.goto(studio.base + path)
            page.wait_for_timeout(1500)  # the scripts fill the page in from the API
            problems = page.evaluate(_MISFITS, not phone)
            if problems:
                screenshot(page, f"layout-{name}-{width}")
                found[path] = problems
        context.close()
    assert not found, found
    assert not console.problems, console.problems
