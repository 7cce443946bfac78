"""Exports through the API (app/api/routes/exports.py, app/store/exports.py) and the export job
(worker/jobs/tasks/export.py) run in this process: the request queues a job on the prepare
queue, the job packs the archive, the archive unpacks to what transformers, nanoGPT and
safetensors read. Plus every refusal in the one error shape, the reaper, and a deleted run."""

from __future__ import annotations

import pickle
import shutil
import zipfile
from pathlib import Path

import pytest
import torch
from engine_helpers import prepared, shakespeare, tiny_config
from studio_rows import ago, make_run
from studio_stack import assert_error

from app.store.db import get_db
from app.store.exports import EXPORTS, archive_path
from app.store.lease import reap as reap_lease
from app.store.models import Export
from app.store.settings import get_settings
from worker.engine.checkpoints.files import load_checkpoint

pytestmark = pytest.mark.usefixtures("local_env")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder of a tiny character-level model with ckpt.pt and best.pt."""
    from worker.engine.training.loop import train

    tmp = tmp_path_factory.mktemp("trained")
    data = prepared(tmp, shakespeare(4000))
    out = tmp / "run"
    cfg = tiny_config(data, out, n_layer=1, n_embd=16, block_size=8, batch_size=2, max_iters=2,
                      eval_interval=2, eval_iters=1, lr_decay_iters=2, warmup_iters=1)  # fmt: skip
    train(cfg)
    assert (out / "ckpt.pt").is_file() and (out / "best.pt").is_file()
    return out


def finished_run(trained: Path | None, *files: str) -> int:
    """A succeeded run whose folder holds `files` of the trained one."""
    run_id = make_run(state="succeeded", config={"eval_interval": 250})
    folder = get_settings().run_dir(run_id)
    folder.mkdir(parents=True)
    for name in files:
        shutil.copy(trained / name, folder / name)
    return run_id


def export_now(export_id: int) -> str:
    """What the prepare worker does with the message, here."""
    from worker.jobs.tasks.export import export_run

    return export_run(export_id)


def unpacked(client, export: dict, into: Path) -> Path:
    """Download the archive and unpack it; returns the one folder it holds."""
    response = client.get(export["file"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert export["file_name"] in response.headers["content-disposition"]
    assert len(response.content) == export["size_bytes"]
    into.mkdir(parents=True, exist_ok=True)
    archive = into / export["file_name"]
    archive.write_bytes(response.content)
    with zipfile.ZipFile(archive) as zf:
        tops = {name.split("/")[0] for name in zf.namelist()}
        assert tops == {f"run{export['run_id']}-{export['format']}"}  # one folder, nothing else
        zf.extractall(into)
    return into / tops.pop()


def test_an_hf_export_is_queued_then_packed_and_loads_in_transformers(client, trained, tmp_path):
    from transformers import GPT2LMHeadModel

    from app.store.broker import pending_first_args

    run_id = finished_run(trained, "ckpt.pt")
    response = client.post(f"/api/v1/runs/{run_id}/exports", json={"format": "hf"})
    assert response.status_code == 202, response.text
    export = response.json()
    assert export["state"] == "queued" and export["checkpoint"] == "latest"
    assert export["file"] is None and export["size_bytes"] is None
    held = pending_first_args(get_settings(), queue="prepare", task_name="studio.export")
    assert export["id"] in held  # a wake-up for the prepare workers
    url = f"/api/v1/runs/{run_id}/exports/{export['id']}"
    assert_error(client.get(f"{url}/file"), 409, "not_ready", "state")

    assert export_now(export["id"]) == "done"
    assert export_now(export["id"]) == "skipped"  # a duplicate message changes nothing
    ready = client.get(url).json()
    assert ready["state"] == "ready" and ready["iter"] == 2 and ready["size_bytes"] > 0
    assert ready["file"] == f"{url}/file" and ready["attempts"] == 1
    assert [e["id"] for e in client.get(f"/api/v1/runs/{run_id}/exports").json()] == [export["id"]]

    folder = unpacked(client, ready, tmp_path)
    model, info = GPT2LMHeadModel.from_pretrained(folder, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    ours = load_checkpoint(trained / "ckpt.pt")
    assert model.config.n_embd == 16
    assert model.config.vocab_size == ours["model_args"]["vocab_size"]
    wte = ours["model"]["transformer.wte.weight"]
    torch.testing.assert_close(model.transformer.wte.weight.detach(), wte, rtol=0, atol=0)


def test_nanogpt_and_safetensors_archives_hold_their_layouts(client, trained, tmp_path):
    from safetensors import safe_open

    run_id = finished_run(trained, "ckpt.pt", "best.pt")
    made = {}
    for fmt in ("nanogpt", "safetensors"):
        body = {"format": fmt, "checkpoint": "best"}
        made[fmt] = client.post(f"/api/v1/runs/{run_id}/exports", json=body).json()
        assert export_now(made[fmt]["id"]) == "done"
    listed = client.get(f"/api/v1/runs/{run_id}/exports").json()
    assert [e["format"] for e in listed] == ["safetensors", "nanogpt"]  # newest first

    nanogpt = unpacked(client, listed[1], tmp_path / "n")
    assert {p.name for p in nanogpt.iterdir()} == {"ckpt.pt", "meta.pkl", "README.md"}
    ckpt = torch.load(nanogpt / "ckpt.pt", map_location="cpu", weights_only=True)
    assert set(ckpt["model_args"]) >= {"n_layer", "n_head", "n_embd", "block_size", "vocab_size"}
    with (nanogpt / "meta.pkl").open("rb") as f:
        meta = pickle.load(f)  # our own export: the plain dict nanoGPT's prepare.py writes
    assert meta["vocab_size"] == ckpt["model_args"]["vocab_size"] == len(meta["itos"])
    readme = (nanogpt / "README.md").read_text(encoding="utf-8")
    assert f"--out_dir=run{run_id}-nanogpt" in readme and str(tmp_path) not in readme
    assert str(get_settings().data_dir) not in readme  # no server path in the archive

    bare = unpacked(client, listed[0], tmp_path / "s")
    with safe_open(str(bare / "model.safetensors"), framework="pt") as f:
        assert "transformer.wte.weight" in f.keys()  # noqa: SIM118


def test_a_gguf_archive_holds_one_model_gguf(client, trained, tmp_path):
    import gguf

    run_id = finished_run(trained, "ckpt.pt")
    made = client.post(f"/api/v1/runs/{run_id}/exports", json={"format": "gguf-f16"}).json()
    assert made["format"] == "gguf-f16" and export_now(made["id"]) == "done"
    ready = client.get(f"/api/v1/runs/{run_id}/exports/{made['id']}").json()
    folder = unpacked(client, ready, tmp_path)
    assert [p.name for p in folder.iterdir()] == ["model.gguf"]
    reader = gguf.GGUFReader(folder / "model.gguf")
    chars = load_checkpoint(trained / "ckpt.pt")["tokenizer"]["chars"]
    assert len(reader.fields["tokenizer.ggml.tokens"].contents()) == len(chars)
    assert reader.fields["general.architecture"].contents() == "gpt2"


def test_refusals_name_the_problem(client, trained):
    run_id = finished_run(trained, "ckpt.pt")
    exports = f"/api/v1/runs/{run_id}/exports"
    assert_error(client.post("/api/v1/runs/987654/exports", json={"format": "hf"}), 404,
                 "not_found", "run_id")  # fmt: skip
    assert_error(client.get("/api/v1/runs/987654/exports"), 404, "not_found", "run_id")
    assert_error(client.get(f"{exports}/987654"), 404, "not_found", "export_id")
    assert_error(client.get(f"{exports}/987654/file"), 404, "not_found", "export_id")
    bad = assert_error(client.post(exports, json={"format": "onnx"}), 422, "invalid", "format")
    assert "hf" in bad["message"] and "nanogpt" in bad["message"]
    assert_error(client.post(exports, json={}), 422, "invalid", "format")
    assert_error(client.post(exports, json={"format": "hf", "checkpoint": "ckpt.pt"}), 422,
                 "invalid", "checkpoint")  # fmt: skip
    assert_error(client.post(exports, json={"format": "hf", "zip": True}), 422, "invalid", "zip")
    no_best = assert_error(
        client.post(exports, json={"format": "hf", "checkpoint": "best"}),
        409,
        "no_checkpoint",
        "checkpoint",
    )
    assert "best.pt" in no_best["message"]
    empty = finished_run(None)
    none_yet = assert_error(
        client.post(f"/api/v1/runs/{empty}/exports", json={"format": "nanogpt"}),
        409,
        "no_checkpoint",
        "checkpoint",
    )
    assert "every 250 iterations" in none_yet["message"]

    # another run's export is not this run's
    other = client.post(exports, json={"format": "hf"}).json()
    assert_error(client.get(f"/api/v1/runs/{empty}/exports/{other['id']}"), 404, None, "export_id")

    # a modern-arch model has no nanoGPT or GGUF form: refused before any job
    modern = make_run(state="succeeded", config={"arch": "modern"})
    for fmt in ("nanogpt", "gguf", "gguf-q8_0"):
        refused = assert_error(
            client.post(f"/api/v1/runs/{modern}/exports", json={"format": fmt}),
            422,
            "invalid",
            "format",
        )
        assert "modern" in refused["message"] and "safetensors" in refused["message"]


def test_an_export_the_engine_refuses_fails_with_its_reason(client, trained):
    run_id = finished_run(trained)
    (get_settings().run_dir(run_id) / "ckpt.pt").write_bytes(b"not a checkpoint")
    export = client.post(f"/api/v1/runs/{run_id}/exports", json={"format": "hf"}).json()
    assert export_now(export["id"]) == "failed"
    failed = client.get(f"/api/v1/runs/{run_id}/exports/{export['id']}").json()
    assert failed["state"] == "failed" and failed["failure_reason"] == "data"
    assert "ckpt.pt is not a readable checkpoint" in failed["failure_message"]
    file = f"/api/v1/runs/{run_id}/exports/{export['id']}/file"
    error = assert_error(client.get(file), 409, "export_failed", "state")
    assert "not a readable checkpoint" in error["message"]
    assert not archive_path(get_settings(), run_id=run_id, export_id=export["id"]).exists()
    assert not list((get_settings().run_dir(run_id) / "exports").iterdir())  # no leftovers


def make_export(run_id: int, **values) -> int:
    fields = {"run_id": run_id, "format": "hf", "checkpoint": "latest", "state": "running",
              "attempts": 1, "worker_id": "gone:1", "heartbeat_at": ago(60)}  # fmt: skip
    with get_db().transaction() as session:
        export = Export(**{**fields, **values})
        session.add(export)
        session.flush()
        return export.id


def test_a_lost_export_job_is_retried_then_failed_with_a_reason(client, trained):
    from worker.jobs.reaper import reap

    run_id = finished_run(trained, "ckpt.pt")
    lost = make_export(run_id)
    spent = make_export(run_id, attempts=3)
    alive = make_export(run_id, heartbeat_at=ago(0))
    reaped = reap(get_settings())
    assert lost in reaped["exports"].requeued and spent in reaped["exports"].failed
    assert alive not in reaped["exports"].requeued + reaped["exports"].failed
    gone = client.get(f"/api/v1/runs/{run_id}/exports/{spent}").json()
    assert gone["state"] == "failed" and gone["failure_reason"] == "worker_lost"
    assert "the worker stopped answering" in gone["failure_message"]
    assert client.get(f"/api/v1/runs/{run_id}/exports/{lost}").json()["state"] == "queued"
    assert reap_lease(EXPORTS, stale_after_s=6, max_attempts=3).requeued == []  # nothing twice
    archive = archive_path(get_settings(), run_id=run_id, export_id=lost)
    cut_short = archive.parent / f".{archive.name}.0123456789ab.partial"  # the lost attempt's
    cut_short.mkdir(parents=True)
    assert export_now(lost) == "done"  # the requeued export runs again and ends ready
    assert archive.is_file() and not cut_short.exists()


def test_deleting_a_run_deletes_its_exports_rows_and_files(client, trained):
    run_id = finished_run(trained, "ckpt.pt")
    export = client.post(f"/api/v1/runs/{run_id}/exports", json={"format": "safetensors"}).json()
    assert export_now(export["id"]) == "done"
    path = archive_path(get_settings(), run_id=run_id, export_id=export["id"])
    assert path.is_file()
    assert client.delete(f"/api/v1/runs/{run_id}").status_code == 204
    assert not path.exists() and not get_settings().run_dir(run_id).exists()
    with get_db().session() as session:
        assert session.get(Export, export["id"]) is None
    assert_error(client.get(f"/api/v1/runs/{run_id}/exports/{export['id']}"), 404)


def test_an_export_whose_run_was_deleted_meanwhile_leaves_nothing(client, trained):
    run_id = finished_run(trained, "ckpt.pt")
    export = client.post(f"/api/v1/runs/{run_id}/exports", json={"format": "hf"}).json()
    assert client.delete(f"/api/v1/runs/{run_id}").status_code == 204
    assert export_now(export["id"]) == "skipped"  # its row went with the run
    assert not get_settings().run_dir(run_id).exists()
