"""Each knob's effect on a sweep's score: the rank correlation, the points, the choices."""

from __future__ import annotations

import pytest

from app.planning.knob_effects import ScoredTrial, knob_effects, spearman

SPACE = {
    "learning_rate": {"low": 1e-4, "high": 1e-1, "log": True},
    "n_layer": {"choices": [1, 2, 4]},
}


def trial(lr: float, layers: int, bpc: float | None, complete: bool = True) -> ScoredTrial:
    return ScoredTrial({"learning_rate": lr, "n_layer": layers}, bpc, complete)


def test_spearman_reads_ranks_with_ties_and_says_nothing_of_a_constant():
    assert spearman([(1, 3.0), (2, 2.0), (3, 1.0)]) == -1.0
    assert spearman([(1e-4, 1.0), (1e-3, 2.0), (1e-1, 9.0)]) == 1.0  # any monotone scale
    assert spearman([(1, 1.0), (1, 2.0), (2, 3.0)]) == pytest.approx(0.866, abs=1e-3)
    assert spearman([(1, 2.0), (2, 2.0), (3, 2.0)]) is None


def test_a_number_knob_counts_complete_trials_and_keeps_every_point():
    pruned = [trial(1e-1, 4, 3.0, complete=False), trial(5e-2, 1, None, complete=False)]
    trials = [trial(1e-3, 1, 2.0), trial(1e-2, 2, 1.5), trial(3e-2, 2, 1.4), *pruned]
    lr, layers = knob_effects(SPACE, trials)
    assert lr["knob"] == "learning_rate" and lr["kind"] == "number"
    assert lr["correlation"] == -1.0  # with the pruned trial's 3.0 it would read 0.2
    assert [(p["value"], p["complete"]) for p in lr["points"]] == [
        (1e-3, True), (1e-2, True), (3e-2, True), (1e-1, False)]  # fmt: skip
    assert layers["kind"] == "choices"
    assert layers["choices"] == [
        {"value": 2, "trials": 2, "best": 1.4, "mean": pytest.approx(1.45)},
        {"value": 1, "trials": 1, "best": 2.0, "mean": 2.0},
    ]  # best first; 4 has no complete trial


def test_under_three_complete_trials_no_correlation_is_claimed():
    (lr, _) = knob_effects(SPACE, [trial(1e-3, 1, 2.0), trial(1e-2, 1, 1.0)])
    assert lr["correlation"] is None and len(lr["points"]) == 2
    assert knob_effects(SPACE, [])[0] == {
        "knob": "learning_rate", "kind": "number", "correlation": None, "points": []}  # fmt: skip
