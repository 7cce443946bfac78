"""One unit for every comparison: where runs with different tokenizers stand side by side
(home, a dataset's runs, Compare's table and picker, the API's runs), their best val loss is
in bits per character and labelled so; runs of one tokenizer keep nats per token. Rows are
made through the store: three runs on one dataset (char, bpe-512, gpt2) whose nats per token
rank them the other way round from their bits per character, two char runs on another."""

from __future__ import annotations

import re

import pytest
from studio_rows import make_evaluations, make_preparation, make_run

from app.store.db import get_db
from app.store.models import Preparation

# tokenizer, best val loss (nats/token), the evaluations' (iter, val_loss, val_bpc)
MIXED = [
    ("char", 2.25, [(0, 4.1, 5.915), (100, 2.25, 3.246)]),
    ("bpe-512", 3.87, [(0, 6.2, 4.646), (100, 3.87, 2.900)]),
    ("gpt2", 5.84, [(0, 10.9, 5.077), (100, 5.84, 2.720)]),
]
ALONE = [("char", 1.9, [(50, 1.9, 2.741)]), ("char", 2.05, [(50, 2.05, 2.957)])]


def _dataset_of(preparation_id: int) -> int:
    with get_db().session() as session:
        return session.get(Preparation, preparation_id).dataset_id


def _runs(dataset_id: int, rows: list) -> list[int]:
    ids = []
    for tokenizer, best, evaluations in rows:
        run_id = make_run(
            name=f"{tokenizer}-run", dataset_id=dataset_id, tokenizer=tokenizer,
            state="succeeded", best_val_loss=best, iter=100, max_iters=100,
        )  # fmt: skip
        make_evaluations(run_id, *evaluations)
        ids.append(run_id)
    return ids


@pytest.fixture(scope="module")
def runs(local_env) -> dict[str, object]:
    mixed_dataset = _dataset_of(make_preparation())
    alone_dataset = _dataset_of(make_preparation())
    return {
        "mixed": _runs(mixed_dataset, MIXED),
        "alone": _runs(alone_dataset, ALONE),
        "mixed_dataset": mixed_dataset,
        "alone_dataset": alone_dataset,
    }


def _cells(html: str, run_id: int) -> str:
    start = html.index(f'<tr data-run-id="{run_id}">')
    return html[start : html.index("</tr>", start)]


def _best_cell(html: str, run_id: int) -> str:
    match = re.search(r'data-field="best_val">([^<]*)<', _cells(html, run_id))
    assert match, _cells(html, run_id)
    return match.group(1)


def _unit_label(html: str) -> str:
    return re.search(r"data-unit-label>([^<]*)<", html).group(1)


def test_the_api_gives_every_run_its_best_bits_per_character(web, runs):
    listed = web.get("/api/v1/runs?limit=10").json()["items"]
    best = {r["id"]: (r["best_val_loss"], r["best_val_bpc"]) for r in listed}
    for run_id, (_, loss, evaluations) in zip(runs["mixed"], MIXED, strict=True):
        lowest = min(bpc for _, _, bpc in evaluations)
        assert best[run_id] == (loss, lowest)
        assert web.get(f"/api/v1/runs/{run_id}").json()["best_val_bpc"] == lowest
    never_evaluated = make_run(name="fresh", tokenizer="char")
    assert web.get(f"/api/v1/runs/{never_evaluated}").json()["best_val_bpc"] is None
    web.delete(f"/api/v1/runs/{never_evaluated}")


def test_home_compares_runs_of_three_tokenizers_in_bits_per_character(web, runs):
    html = web.get("/").text
    assert 'data-unit="bpc"' in html and _unit_label(html) == "bits / char"
    cells = [_best_cell(html, run_id) for run_id in runs["mixed"]]
    assert cells == ["3.246", "2.900", "2.720"]  # GPT-2 is the best model, and looks it


def test_runs_of_one_tokenizer_stay_in_nats_per_token(web, runs):
    html = web.get(f"/datasets/{runs['alone_dataset']}").text
    assert 'data-unit="loss"' in html and _unit_label(html) == "nats / token"
    assert [_best_cell(html, run_id) for run_id in runs["alone"]] == ["1.9000", "2.0500"]
    mixed = web.get(f"/datasets/{runs['mixed_dataset']}").text
    assert _unit_label(mixed) == "bits / char"
    assert _best_cell(mixed, runs["mixed"][2]) == "2.720"


def _best_row(html: str) -> str:
    start = html.index("<tr data-best-row>")
    return html[start : html.index("</tr>", start)]


def test_compare_tables_and_picker_use_the_unit_the_runs_compare_by(web, runs):
    query = "&".join(f"run={i}" for i in runs["mixed"])
    html = web.get(f"/compare?{query}").text
    row = _best_row(html)
    assert "bits / char" in row
    assert re.findall(r'<td class="mono">([^<]*)</td>', row) == ["3.246", "2.900", "2.720"]
    # The picker lists every run, of every tokenizer: bits per character, labelled.
    gpt2 = runs["mixed"][2]
    picker = html[html.index(f'id="pick-{gpt2}"') :]
    assert "· 2.720 bits / char" in picker[: picker.index("</li>")]

    same = web.get(f"/compare?run={runs['alone'][0]}&run={runs['alone'][1]}").text
    row = _best_row(same)
    assert "nats / token" in row
    assert re.findall(r'<td class="mono">([^<]*)</td>', row) == ["1.9000", "2.0500"]


def test_run_page_shows_best_in_both_units(web, runs):
    html = web.get(f"/runs/{runs['mixed'][2]}").text
    assert re.search(r'data-fig="best_val_loss">5.8400<', html)
    assert re.search(r'data-fig="best_val_bpc"[^>]*>2.720<', html)
