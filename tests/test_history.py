"""Downsampling keeps the first and last points, every evaluation, and loss spikes."""

from app.crud.history import downsample


def rows(n: int, eval_every: int = 100) -> list[dict]:
    return [
        {"iter": i, "train_loss": 5.0 - i / n, "val_loss": 4.0 if i % eval_every == 0 else None}
        for i in range(n)
    ]


def test_keeps_ends_evals_and_spikes():
    data = rows(10_000)
    data[5_555]["train_loss"] = 99.0
    out = downsample(data, 200)
    iters = [r["iter"] for r in out]
    assert iters == sorted(iters) and len(out) <= 200
    assert iters[0] == 0 and iters[-1] == 9_999
    assert set(range(0, 10_000, 100)) <= set(iters)
    assert 5_555 in iters


def test_too_many_evals_are_thinned_too():
    out = downsample(rows(1_000, eval_every=1), 50)
    assert len(out) <= 52 and out[0]["iter"] == 0 and out[-1]["iter"] == 999
