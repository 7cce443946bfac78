"""Placing runs on devices and hosts: what a run asks for and the queue that holds it, GPU
locks per run, the deployment marker a worker checks, and through the service (API + a
prepare/sample worker + a train worker, under different names and queues, sharing one data
directory, database and broker): a two-process CPU run (torchrun, gloo) routed to the train
worker, a killed rank ending its group, and a CUDA run that no CPU-only worker takes."""

from __future__ import annotations

import html
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from studio_stack import REPO, TOKEN, assert_error

from app.planning.routing import device_request, queue_for, train_queues_for
from app.store.errors import InvalidError
from worker.jobs.gpu_locks import reserve

SHAKESPEARE = REPO / "app" / "sample_data" / "tinyshakespeare.txt"
TINY = {"n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 16, "batch_size": 8,
        "max_iters": 12, "lr_decay_iters": 12, "warmup_iters": 2, "eval_interval": 6,
        "eval_iters": 2, "log_interval": 2, "device": "cpu", "compile": False,
        "learning_rate": 1e-2, "gradient_accumulation_steps": 2}  # fmt: skip


# --- what a run asks for, and where it waits ---


def test_device_requests_and_their_queues() -> None:
    assert device_request(gpus=None, processes=None, device="auto") is None
    assert queue_for(None) == "train"
    two = device_request(gpus=2, processes=None, device="auto")
    assert two == {"kind": "cuda", "count": 2, "indices": None, "processes": 2}
    assert queue_for(two) == "train.cuda.2"
    listed = device_request(gpus=[3, 1], processes=2, device="cuda")
    assert (
        listed is not None and listed["indices"] == [1, 3] and queue_for(listed) == "train.cuda.2"
    )
    cpu = device_request(gpus=None, processes=2, device="cpu")
    assert cpu == {"kind": "cpu", "count": 0, "indices": None, "processes": 2}
    assert queue_for(cpu) == "train"
    assert train_queues_for(0) == ["train"]
    assert train_queues_for(2) == ["train", "train.cuda.1", "train.cuda.2"]
    for kwargs, field in [
        ({"gpus": 1, "processes": None, "device": "cpu"}, "gpus"),
        ({"gpus": [0, 0], "processes": None, "device": "cuda"}, "gpus"),
        ({"gpus": 2, "processes": 3, "device": "cuda"}, "processes"),
        ({"gpus": 2, "processes": None, "device": "cuda:1"}, "device"),
    ]:
        with pytest.raises(InvalidError) as err:
            device_request(**kwargs)
        assert err.value.field == field, kwargs


def test_a_gpu_is_one_run_s_alone(tmp_path: Path) -> None:
    """Real flock locks on a host said to have GPUs 0 and 1."""
    deployment = f"test-{os.getpid()}-{time.monotonic_ns()}"
    common = {"worker": "w", "deployment": deployment, "gpus_here": (0, 1)}
    first = reserve(
        run_id=1, devices=device_request(gpus=1, processes=None, device="cuda"), **common
    )
    assert first is not None and first.gpus == [0] and first.env == {"CUDA_VISIBLE_DEVICES": "0"}
    both = device_request(gpus=2, processes=None, device="cuda")
    assert reserve(run_id=2, devices=both, **common) is None  # waits: GPU 0 is taken
    second = reserve(
        run_id=3, devices=device_request(gpus=[1], processes=None, device="cuda"), **common
    )
    assert second is not None and second.gpus == [1]
    assert (
        second.record()["devices"] == ["cuda:1"] and second.record()["host"] == socket.gethostname()
    )
    auto = reserve(run_id=4, devices=None, **common)  # no GPU free: an auto run takes the CPU
    assert auto is not None and auto.gpus == [] and auto.env == {"CUDA_VISIBLE_DEVICES": ""}
    first.close()
    second.close()
    pair = reserve(run_id=2, devices=both, **common)
    assert pair is not None and pair.gpus == [0, 1]
    shared = reserve(run_id=5, devices=None, runs_per_gpu=2, **common)  # sharing, when asked
    assert shared is not None and shared.gpus == [0]
    pair.close()
    shared.close()
    cpu = reserve(run_id=6, devices=device_request(gpus=None, processes=2, device="cpu"), **common)
    assert cpu is not None and cpu.gpus == [] and cpu.record()["processes"] == 2
    assert (
        reserve(run_id=7, devices=device_request(gpus=[5], processes=None, device="cuda"), **common)
        is None
    )


def test_the_api_checks_what_a_run_asks_for(client) -> None:
    dataset = client.post(
        "/api/v1/datasets?name=s.txt", content=SHAKESPEARE.read_bytes()[:20_000]
    ).json()
    body = {"dataset_id": dataset["id"], "config": {**TINY, "device": "cpu"}}
    for extra, field in [
        ({"gpus": 1}, "gpus"),
        ({"processes": 3}, "gradient_accumulation_steps"),
        ({"processes": 2, "config": {**TINY, "eval_only": True}}, "eval_only"),
        ({"gpus": [0, 0], "config": {**TINY, "device": "cuda"}}, "gpus"),
    ]:
        assert_error(client.post("/api/v1/runs", json={**body, **extra}), 422, field=field)
    plan = client.post(
        "/api/v1/runs?dry_run=true", json={**body, "config": {**TINY, "device": "auto"}, "gpus": 2}
    )
    assert plan.status_code == 200, plan.text
    assert plan.json()["queue"] == "train.cuda.2" and plan.json()["devices"]["processes"] == 2
    run = client.post("/api/v1/runs", json={**body, "processes": 2}).json()
    assert (run["queue"], run["devices"]["processes"], run["placement"]) == ("train", 2, None)
    clone = client.post(f"/api/v1/runs/{run['id']}/clone", json={}).json()
    assert clone["devices"] == run["devices"]  # a clone asks for what its source asked for


# --- a worker and the data directory it sees ---


def _worker(env: dict[str, str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "app.commands", "worker", "--queues", "train"]
    return subprocess.run(
        [*command, "--data-dir", str(data_dir)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )


def test_a_worker_refuses_a_data_directory_that_is_not_the_api_s(stack, tmp_path: Path) -> None:
    assert (Path(stack.env["STUDIO_DATA_DIR"]) / "deployment-id").is_file()  # the API wrote it
    empty = _worker(stack.env, tmp_path / "empty")
    assert empty.returncode == 2
    assert "deployment-id is missing: STUDIO_DATA_DIR" in empty.stderr
    other = tmp_path / "other"
    other.mkdir()
    (other / "deployment-id").write_text("0123456789abcdef\n")
    wrong = _worker(stack.env, other)
    assert wrong.returncode == 2 and "belongs to another studio" in wrong.stderr


# --- through the service ---


def _run_once(backend: str) -> None:
    """The slow ones run on one backend: PostgreSQL + Redis when they are configured."""
    if backend == "sqlite" and os.environ.get("STUDIO_TEST_DATABASE_URL"):
        pytest.skip("runs against PostgreSQL and Redis")


def _wait(api, run_id: int, until, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    run = {}
    while time.monotonic() < deadline:
        run = api.get(f"/runs/{run_id}").json()
        if until(run):
            return run
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} stuck: {run}")


def _finished(run: dict) -> bool:
    return run["state"] in ("succeeded", "failed", "cancelled")


def _ranks(run_id: int) -> dict[int, int]:
    """{rank: pid} of the run's torchrun ranks."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            env = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"worker.jobs.training_process" in argv and str(run_id).encode() in argv:
            for item in env:
                if item.startswith(b"RANK=") and b"torch.distributed.run" not in argv:
                    found[int(item[5:])] = int(entry.name)
    return found


@pytest.fixture(scope="module")
def dataset(stack):
    with stack.client() as api:
        response = api.post("/datasets?name=s.txt", content=SHAKESPEARE.read_bytes()[:40_000])
        assert response.status_code == 201, response.text
        return response.json()


def _start(api, dataset, **fields) -> dict:
    config = {**TINY, **fields.pop("config", {})}
    response = api.post("/runs", json={"dataset_id": dataset["id"], "config": config, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def test_two_processes_through_the_service(api, dataset, backend) -> None:
    """A CPU run of two gloo processes goes to the train worker's queue, which trains it from
    the files the prepare worker wrote; its loss is close to one process's with the same
    global batch; the sample worker reads the checkpoint the train worker wrote, and the run
    resumes from it on one process."""
    _run_once(backend)
    cuda = _start(api, dataset, gpus=1, config={"device": "auto"})
    try:
        _two_processes_beside_a_cuda_run(api, dataset, cuda)
    finally:  # a waiting CUDA run would show its queue to later tests
        api.post(f"/runs/{cuda['id']}/cancel")


def _two_processes_beside_a_cuda_run(api, dataset, cuda: dict) -> None:
    assert cuda["queue"] == "train.cuda.1"
    one = _start(api, dataset)
    two = _start(api, dataset, processes=2)
    one, two = (_wait(api, r["id"], _finished) for r in (one, two))
    assert one["state"] == two["state"] == "succeeded", (
        one["failure_message"],
        two["failure_message"],
    )
    assert abs(one["last_val_loss"] - two["last_val_loss"]) < 0.05  # test_distributed's figure
    system = api.get("/system").json()
    trainer = next(w for w in system["workers"] if "train" in w["queues"])
    assert two["placement"] == {"host": socket.gethostname(), "worker": trainer["name"],
                                "devices": ["cpu"], "gpus": [], "processes": 2}  # fmt: skip
    assert "train.cuda.1" not in {q for w in system["workers"] for q in w["queues"]}
    logs = [x["line"] for x in api.get(f"/runs/{two['id']}/logs").json()["items"]]
    assert any("on 2 processes" in line for line in logs)
    sample = api.post(f"/runs/{two['id']}/samples", json={"prompt": "ROMEO:", "max_new_tokens": 5})
    assert sample.status_code in (200, 201), sample.text
    # The two-process checkpoint resumes through the service on one process.
    resume = f"/runs/{two['id']}/resume"
    assert_error(api.post(resume, json={"max_iters": 16, "processes": 3}), 422,
                 field="gradient_accumulation_steps")  # fmt: skip
    queued = api.post(resume, json={"max_iters": 16, "processes": 1})
    assert queued.status_code == 202, queued.text
    assert queued.json()["devices"] is None and queued.json()["queue"] == "train"
    solo = _wait(api, two["id"], _finished)
    assert (solo["state"], solo["iter"]) == ("succeeded", 16), solo["failure_message"]
    assert solo["placement"]["processes"] == 1
    # No CPU-only worker took the CUDA run: it still waits on its own queue.
    assert api.get(f"/runs/{cuda['id']}").json()["state"] == "queued"


def test_a_killed_rank_ends_the_group_and_the_run_resumes(api, dataset, backend) -> None:
    _run_once(backend)
    run = _start(api, dataset, processes=2,
                 config={"max_iters": 3000, "lr_decay_iters": 3000, "eval_interval": 1000,
                         "log_interval": 10})  # fmt: skip
    _wait(api, run["id"], lambda r: r["state"] == "running" and r["iter"] >= 20)
    ranks = _ranks(run["id"])
    assert set(ranks) == {0, 1}, ranks
    os.kill(ranks[1], signal.SIGKILL)
    again = _wait(api, run["id"], lambda r: r["attempts"] == 2 and r["state"] == "running")
    assert not any(Path(f"/proc/{pid}").exists() for pid in ranks.values()), "an orphan rank"
    # every line: a fast run logs past the first page (500) before its second attempt is seen
    logs = [x["line"] for x in api.get(f"/runs/{run['id']}/logs?limit=5000").json()["items"]]
    # the cause is in the log: said by the store when torchrun exits, or by rank 0's own
    # reporter when it sees its peer gone first (which comes first is a race)
    ended = ("attempt 1 ended: the training process exited", "this attempt ended:")
    told = [line for line in logs if not line.startswith("iter ")]
    assert any(line.startswith(ended) for line in logs), told
    assert again["placement"]["processes"] == 2
    api.post(f"/runs/{run['id']}/cancel")
    assert _wait(api, run["id"], _finished)["state"] == "cancelled"


def test_a_run_no_live_worker_can_take_says_what_it_waits_for(api, stack, dataset) -> None:
    """The stack's train worker consumes only `train` (no GPU here): a 2-GPU run is created
    with a no_worker warning (a worker may join later), waits first on its own queue, and the
    API, its page and the form say what it waits for."""
    live = api.get("/system").json()["workers"]
    assert ["train"] in [w["queues"] for w in live]  # the one train worker: CPU runs only
    waits = f"a worker with 2 GPUs; none of the {len(live)} live workers has more than 0"
    body = {"dataset_id": dataset["id"], "config": {**TINY, "device": "auto"}, "gpus": 2}
    plan = api.post("/runs?dry_run=true", json=body).json()
    assert plan["waiting_for"] == waits
    cpu_plan = api.post("/runs?dry_run=true", json={**body, "gpus": None}).json()
    assert cpu_plan["waiting_for"] is None  # the train worker takes it
    created = api.post("/runs", json=body)
    assert created.status_code == 201, created.text
    run = created.json()
    try:
        assert run["warnings"] == [
            {"code": "no_worker", "field": "gpus",
             "message": f"no live worker can take this run now: it waits for {waits}"}
        ]  # fmt: skip
        queued = _wait(api, run["id"], lambda r: r["state"] == "queued")
        assert (queued["waiting_for"], queued["queue"]) == (waits, "train.cuda.2")
        assert queued["queue_position"] == 1  # counted on its own queue only
        listed = api.get("/runs", params={"state": "queued"}).json()["items"]
        assert next(r for r in listed if r["id"] == run["id"])["waiting_for"] == waits
        with httpx.Client(base_url=stack.url, follow_redirects=True, timeout=60) as browser:
            browser.get("/", params={"token": TOKEN})  # the link `make run` prints: a cookie
            page = browser.get(f"/runs/{run['id']}").text
            assert f"queued: waits for {waits}" in html.unescape(page)
            form = browser.get("/runs/new").text
            assert "No live worker trains on a GPU now." in form
    finally:
        api.post(f"/runs/{run['id']}/cancel")
