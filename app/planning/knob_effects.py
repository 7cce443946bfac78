"""What each knob of a sweep's space did to the score, from the trials scored so far.

A number knob gets the Spearman rank correlation of its value with val bits per character
(ranks, so a log-scaled knob reads the same as a linear one; -1: the higher the knob, the lower
the loss) and every trial's (value, bpc) point for the page's plot; a choice knob gets each
choice's trials, best and mean. Only trials that ran to the end count: a pruned trial's score
is from before its schedule finished, so it would make its knob look worse than it is (its
points are kept, marked, for the plot)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# Fewer complete trials than this and a correlation says nothing
MIN_SCORED = 3


@dataclass(frozen=True)
class ScoredTrial:
    params: Mapping[str, Any]
    val_bpc: float | None
    complete: bool  # ran to the end (not pruned, not failed)


def knob_effects(space: Mapping[str, Any], trials: Iterable[ScoredTrial]) -> list[dict[str, Any]]:
    """One entry per knob of `space`, in the space's order (docs/api.md, Sweeps: `effects`)."""
    scored = [t for t in trials if t.val_bpc is not None]
    out = []
    for knob, spec in space.items():
        tried = [t for t in scored if knob in t.params]
        if isinstance(spec, Mapping) and "choices" in spec:
            out.append({"knob": knob, "kind": "choices", "choices": _by_choice(knob, tried)})
        else:
            out.append({"knob": knob, "kind": "number", **_by_number(knob, tried)})
    return out


def _by_choice(knob: str, trials: list[ScoredTrial]) -> list[dict[str, Any]]:
    groups: dict[str, tuple[Any, list[float]]] = {}
    for t in trials:
        if t.complete:
            value = t.params[knob]
            groups.setdefault(repr(value), (value, []))[1].append(float(t.val_bpc or 0.0))
    rows = [
        {"value": value, "trials": len(bpcs), "best": min(bpcs), "mean": sum(bpcs) / len(bpcs)}
        for value, bpcs in groups.values()
    ]
    return sorted(rows, key=lambda r: r["best"])


def _by_number(knob: str, trials: list[ScoredTrial]) -> dict[str, Any]:
    points = [
        {"value": t.params[knob], "val_bpc": t.val_bpc, "complete": t.complete}
        for t in trials
        if isinstance(t.params[knob], int | float)
    ]
    complete = [(float(p["value"]), float(p["val_bpc"])) for p in points if p["complete"]]
    rho = spearman(complete) if len(complete) >= MIN_SCORED else None
    return {"correlation": rho, "points": sorted(points, key=lambda p: p["value"])}


def spearman(pairs: list[tuple[float, float]]) -> float | None:
    """Spearman's rank correlation (ties share their mean rank); None when either side is
    constant."""
    xs, ys = _ranks([x for x, _ in pairs]), _ranks([y for _, y in pairs])
    n = len(pairs)
    mx, my = sum(xs) / n, sum(ys) / n
    cov = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    vx = sum((x - mx) ** 2 for x in xs)
    vy = sum((y - my) ** 2 for y in ys)
    if vx == 0 or vy == 0:
        return None
    return round(cov / (vx * vy) ** 0.5, 3)


def _ranks(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks
