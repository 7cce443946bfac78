"""A run's history: downsampling keeps the first and last points, every evaluation and loss
spikes; log lines page forward, from the tail and backward."""

from studio_stack import assert_error

from app.store.history import downsample


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


def test_logs_page_forward_from_the_tail_and_backward(client):
    """tail=N is the last N lines; before=<id> pages back; the ids say where to go on."""
    from studio_rows import make_run

    from app.store.db import get_db
    from app.store.models import LogLine

    run, other = make_run(state="running"), make_run(state="running")
    with get_db().transaction() as session:
        for i in range(1, 13):
            session.add(LogLine(run_id=run, line=f"line {i}"))
            session.add(LogLine(run_id=other, line=f"other {i}"))  # interleaved ids
    url = f"/api/v1/runs/{run}/logs"

    def page(**params) -> tuple[list[str], int | None, int | None]:
        response = client.get(url, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        return [i["line"] for i in body["items"]], body["next_before"], body["next_after"]

    def line_id(n: int) -> int:
        items = client.get(url, params={"limit": 5000}).json()["items"]
        return items[n - 1]["id"]

    lines, before, after = page(tail=5)
    assert lines == [f"line {i}" for i in range(8, 13)]
    assert before == line_id(8) and after is None  # the stream follows from the last id
    lines, before, after = page(before=before, limit=5)
    assert lines == [f"line {i}" for i in range(3, 8)]
    assert before == line_id(3) and after == line_id(7)
    assert page(before=before, tail=5) == (["line 1", "line 2"], None, line_id(2))
    # Forward pages, as before; the last one says so even when it is exactly full.
    assert page(limit=5) == ([f"line {i}" for i in range(1, 6)], None, line_id(5))
    assert page(after=line_id(7), limit=5)[2] is None
    assert page(after=line_id(10), limit=5) == (["line 11", "line 12"], line_id(11), None)
    assert page(tail=1) == (["line 12"], line_id(12), None)

    assert_error(client.get(url, params={"after": 0, "tail": 5}), 422, "invalid", "after")
    assert_error(client.get(url, params={"tail": 0}), 422, "invalid", "tail")
    assert_error(client.get(url, params={"tail": 5001}), 422, "invalid", "tail")
    assert_error(client.get("/api/v1/runs/987654/logs", params={"tail": 5}), 404)
    empty = make_run(state="queued")
    assert client.get(f"/api/v1/runs/{empty}/logs", params={"tail": 5}).json() == {
        "items": [], "next_after": None, "next_before": None}  # fmt: skip
