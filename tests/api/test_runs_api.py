"""Runs through the API without workers: validation before anything is queued, dry runs,
listing, queue positions, cancel, clone, delete, resume rules."""

import pytest
from studio_stack import assert_error

TINY = {"n_layer": 1, "n_head": 2, "n_embd": 32, "block_size": 16, "batch_size": 4,
        "max_iters": 20, "lr_decay_iters": 20, "warmup_iters": 2, "eval_interval": 10,
        "eval_iters": 2, "log_interval": 5, "device": "cpu", "compile": False,
        "gradient_accumulation_steps": 1}  # fmt: skip


@pytest.fixture
def dataset(client):
    return client.post("/api/v1/datasets/sample").json()


def create(client, dataset, dry_run=False, **body):
    payload = {"dataset_id": dataset["id"], "tokenizer": "char", "config": dict(TINY), **body}
    params = {"dry_run": "true"} if dry_run else None
    return client.post("/api/v1/runs", json=payload, params=params)


def stored(client, dataset) -> tuple:
    """Everything a create could leave behind: runs, preparations, queued jobs."""
    runs = client.get("/api/v1/runs").json()["total"]
    preps = client.get(f"/api/v1/datasets/{dataset['id']}").json()["preparations"]
    return runs, preps, client.get("/api/v1/system").json()["queues"]


def test_create_gives_the_full_config_and_prepares_first(client, dataset):
    response = create(client, dataset, preset="tiny-cpu", name="first")
    assert response.status_code == 201, response.text
    run = response.json()
    assert run["name"] == "first"
    assert run["state"] == "preparing"  # the dataset has no char preparation yet
    assert run["config"]["n_embd"] == 32 and run["config"]["dropout"] == 0.0
    assert run["config"]["data_dir"] == "" and run["max_iters"] == 20
    prep = client.get(f"/api/v1/datasets/{dataset['id']}").json()["preparations"]
    assert [(p["tokenizer"], p["state"]) for p in prep] == [("char", "queued")]


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"n_embd": 30, "n_head": 4}, "n_embd"),  # not divisible
        ({"bogus_knob": 1}, "bogus_knob"),
        ({"n_layer": "many"}, "n_layer"),
        ({"block_size": 2_000_000}, "block_size"),  # more than the data holds
        ({"data_dir": "/etc"}, "data_dir"),
        ({"init_from": "resume"}, "init_from"),
        ({"init_from": "/etc"}, "init_from"),  # a server path outside the models folder
        ({"init_from": "../../etc"}, "init_from"),
    ],
)
def test_invalid_configs_are_refused_naming_the_field(client, dataset, config, field):
    before = stored(client, dataset)
    dry = create(client, dataset, dry_run=True, config={**TINY, **config})
    real = create(client, dataset, config={**TINY, **config})
    assert_error(real, 422, field=field)
    assert (dry.status_code, dry.json()) == (real.status_code, real.json())  # the same answer
    assert stored(client, dataset) == before  # nothing stored or queued


def test_dry_run_checks_everything_and_stores_nothing(client, dataset):
    before = stored(client, dataset)
    response = create(client, dataset, dry_run=True, preset="tiny-cpu", name="trial")
    assert response.status_code == 200, response.text
    plan = response.json()
    assert plan["dry_run"] is True and plan["name"] == "trial" and plan["preset"] == "tiny-cpu"
    assert plan["state"] == "preparing"  # not prepared with this tokenizer and split yet
    assert plan["config"]["n_embd"] == 32 and plan["config"]["dropout"] == 0.0  # preset merged
    assert plan["config"]["data_dir"] == "" and plan["config"]["max_iters"] == 20
    assert plan["data"]["exact"] is False
    assert plan["data"]["train_tokens"] == dataset["characters"] - int(dataset["characters"] * 0.1)
    assert plan["tokens_per_iter"] == 4 * 16
    assert plan["epochs"] == pytest.approx(64 * 20 / plan["data"]["train_tokens"])
    assert stored(client, dataset) == before
    # Errors the engine does not make come out the same way too.
    for body, status in (({"preset": "gpt5"}, 422), ({"tokenizer": "sentencepiece"}, 422)):
        dry, real = create(client, dataset, True, **body), create(client, dataset, **body)
        assert dry.status_code == real.status_code == status
        assert dry.json() == real.json()
    missing = {"dataset_id": 424242, "config": TINY}
    assert_error(client.post("/api/v1/runs?dry_run=true", json=missing), 404, field="dataset_id")
    assert_error(client.post("/api/v1/runs?dry_run=maybe", json=missing), 422, field="dry_run")


def test_dry_run_judges_a_prepared_split_by_its_real_size(client, dataset):
    from app.store.db import get_db
    from app.store.models import Preparation

    with get_db().transaction() as session:
        prep = Preparation(dataset_id=dataset["id"], tokenizer="char", val_fraction=0.5,
                           state="ready", progress=1.0, attempts=0, train_tokens=5000,
                           val_tokens=40, vocab_size=65)  # fmt: skip
        session.add(prep)
    plan = create(client, dataset, dry_run=True, val_fraction=0.5).json()
    assert plan["state"] == "queued"
    assert plan["data"] == {"train_tokens": 5000, "val_tokens": 40, "vocab_size": 65, "exact": True}
    too_long = create(client, dataset, dry_run=True, val_fraction=0.5,
                      config={**TINY, "block_size": 64})  # fmt: skip
    assert_error(too_long, 422, "data", "block_size")  # the 40 validation tokens are too few


def test_unknown_preset_and_missing_dataset(client, dataset):
    assert_error(create(client, dataset, preset="gpt5"), 422, field="preset")
    missing = {"dataset_id": 424242, "tokenizer": "char", "config": TINY}
    assert_error(client.post("/api/v1/runs", json=missing), 404, field="dataset_id")
    assert_error(create(client, dataset, tokenizer="sentencepiece"), 422, "invalid", "tokenizer")


def test_list_filters_and_pages_newest_first(client, dataset):
    ids = [create(client, dataset).json()["id"] for _ in range(3)]
    page = client.get("/api/v1/runs", params={"limit": 2, "dataset_id": dataset["id"]}).json()
    assert [r["id"] for r in page["items"]] == ids[::-1][:2]
    assert page["total"] >= 3 and page["limit"] == 2
    preparing = client.get("/api/v1/runs", params={"state": "preparing"}).json()
    assert all(r["state"] == "preparing" for r in preparing["items"])
    assert_error(client.get("/api/v1/runs", params={"state": "bogus"}), 422, field="state")


def test_cancel_a_waiting_run_then_delete_it(client, dataset):
    run = create(client, dataset).json()
    assert_error(client.delete(f"/api/v1/runs/{run['id']}"), 409, "conflict")
    cancelled = client.post(f"/api/v1/runs/{run['id']}/cancel").json()
    assert cancelled["state"] == "cancelled" and cancelled["finished_at"]
    assert_error(client.post(f"/api/v1/runs/{run['id']}/cancel"), 409)
    # No checkpoint was ever written: nothing to resume.
    assert_error(client.post(f"/api/v1/runs/{run['id']}/resume"), 409)
    assert client.delete(f"/api/v1/runs/{run['id']}").status_code == 204
    assert_error(client.get(f"/api/v1/runs/{run['id']}"), 404)


def test_clone_overrides_and_validates(client, dataset):
    source = create(client, dataset, name="src").json()
    clone = client.post(f"/api/v1/runs/{source['id']}/clone", json={"config": {"n_layer": 2}})
    assert clone.status_code == 201
    assert clone.json()["config"]["n_layer"] == 2 and clone.json()["name"] == "src (clone)"
    bad = client.post(f"/api/v1/runs/{source['id']}/clone", json={"config": {"n_head": 5}})
    assert_error(bad, 422, field="n_embd")


def test_clone_dry_run_stores_nothing(client, dataset):
    source = create(client, dataset, name="src").json()
    before = stored(client, dataset)
    url = f"/api/v1/runs/{source['id']}/clone?dry_run=true"
    plan = client.post(url, json={"config": {"n_layer": 2}})
    assert plan.status_code == 200, plan.text
    assert plan.json()["config"]["n_layer"] == 2 and plan.json()["name"] == "src (clone)"
    assert client.post(url).status_code == 200  # no body: the source's config as it is
    bad = {"config": {"n_head": 5}}
    dry = client.post(url, json=bad)
    real = client.post(f"/api/v1/runs/{source['id']}/clone", json=bad)
    assert_error(real, 422, "config", "n_embd")
    assert (dry.status_code, dry.json()) == (real.status_code, real.json())
    assert stored(client, dataset) == before


def test_dataset_in_use_cannot_be_deleted(client, dataset):
    create(client, dataset)
    assert_error(client.delete(f"/api/v1/datasets/{dataset['id']}"), 409, "conflict")


def test_presets_are_listed(client):
    names = {p["name"] for p in client.get("/api/v1/presets").json()}
    assert {"tiny-cpu", "shakespeare-char", "gpt2-small"} <= names


def test_queue_positions_follow_the_time_queued(client):
    from studio_rows import ago, make_run

    later = make_run(queued_at=ago(10), max_iters=5)
    first = make_run(queued_at=ago(20), max_iters=5)
    done = make_run(state="succeeded", queued_at=ago(30), max_iters=5)
    positions = {r["id"]: r["queue_position"] for r in client.get("/api/v1/runs").json()["items"]}
    assert positions[first] < positions[later] and positions[done] is None
    assert client.get(f"/api/v1/runs/{first}").json()["queue_position"] == positions[first]
    system_order = [q["id"] for q in client.get("/api/v1/system").json()["queued_runs"]]
    assert system_order.index(first) < system_order.index(later)


def test_init_from_names_a_folder_in_the_models_folder(client, dataset):
    """The message says where weights may come from; a folder there is looked up as such."""
    response = create(client, dataset, tokenizer="gpt2", config={**TINY, "init_from": "mine"})
    body = assert_error(response, 422, field="init_from")
    assert "models folder" not in body["message"]  # got past the path check
    assert "mine" in body["message"]  # preflight: no such folder there yet


def test_a_dry_run_takes_a_read_session():
    """Validating as one types never waits for SQLite's write lock."""
    from starlette.requests import Request

    from app.api.deps import writes

    def request(method: str, query: str) -> Request:
        return Request({"type": "http", "method": method, "query_string": query.encode()})

    assert writes(request("POST", "")) and writes(request("POST", "dry_run=false"))
    assert not writes(request("POST", "dry_run=true")) and not writes(request("GET", ""))
    assert writes(request("POST", "dry_run=maybe"))  # refused by the route, never read-only


def test_a_run_posted_while_the_broker_is_away_is_stored_and_sent_later(client, dataset):
    """201 with the run stored, never a 500 with it stored: the reaper sends the wake-up."""
    import os

    from studio_rows import get_run

    from app.store.broker import pending_first_args
    from app.store.queues import PREPARE, TRAIN
    from app.store.settings import get_settings
    from worker.jobs.reaper import reap

    settings = get_settings()
    away = {"STUDIO_REDIS_URL": "redis://127.0.0.1:9/0"}  # nothing listens on the discard port
    saved = {key: os.environ[key] for key in away}
    os.environ.update(away)
    get_settings.cache_clear()
    try:
        response = create(client, dataset)
    finally:
        os.environ.update(saved)
        get_settings.cache_clear()
    assert response.status_code == 201, response.text
    run = response.json()
    assert run["state"] in ("preparing", "queued")
    reap(settings.model_copy(update={"resend_after_s": 1e-6}))
    # Whatever the run waits for now has its wake-up on the broker.
    if run["state"] == "queued":
        task, row_id = TRAIN, run["id"]
    else:
        task, row_id = PREPARE, get_run(run["id"]).preparation_id
    assert row_id in pending_first_args(settings, queue=task.queue, task_name=task.name)
