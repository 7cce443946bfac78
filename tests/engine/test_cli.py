"""The command line end to end, as a user types it: prepare, train, sample, Ctrl-C, errors."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from engine_helpers import documents_model, shakespeare

from worker.engine.checkpoints.files import LATEST, load_checkpoint

TINY = ["--device=cpu", "--n_layer=1", "--n_head=2", "--n_embd=32", "--block_size=32",
        "--batch_size=8", "--eval_iters=2", "--log_interval=5"]  # fmt: skip


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", *map(str, args)], capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("cli")
    source = tmp / "input.txt"
    source.write_text(shakespeare(40_000), encoding="utf-8")
    done = cli("prepare", source, "--tokenizer", "char", "--out", tmp / "data")
    assert done.returncode == 0, done.stderr
    assert "40,000 characters" in done.stdout and "vocabulary" in done.stdout
    assert "100.0%" in done.stderr  # the progress bar reached the end
    return tmp / "data"


@pytest.mark.slow
def test_train_then_sample(data: Path, tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text("max_iters = 20\neval_interval = 10\nlearning_rate = 3e-3\n")
    out = tmp_path / "out"
    done = cli("train", "--data", data, "--out", out, "--preset", "tiny-cpu", "--config", config,
               *TINY, "--warmup_iters=2", "--lr_decay_iters=20")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "step 10: train loss" in done.stdout and "iter 5: loss" in done.stdout
    assert "completed at iteration 20" in done.stdout
    assert load_checkpoint(out / LATEST)["config"]["learning_rate"] == 3e-3

    sampled = cli("sample", "--ckpt", out, "--start", "ROMEO:", "--max_new_tokens=30",
                  "--num_samples=2", "--temperature=0")  # fmt: skip
    assert sampled.returncode == 0, sampled.stderr
    samples = sampled.stdout.split("---------------\n")
    assert len(samples) == 3 and samples[0].startswith("ROMEO:")
    assert samples[0] == samples[1]  # greedy: the same twice


@pytest.mark.slow
def test_sample_prompt_from_file(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    trained = cli("train", "--data", data, "--out", out, *TINY, "--max_iters=5",
                  "--eval_interval=5", "--warmup_iters=1", "--lr_decay_iters=5")  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("First Citizen:", encoding="utf-8")
    sampled = cli("sample", "--ckpt", out / LATEST, "--start", f"FILE:{prompt}",
                  "--max_new_tokens=5")  # fmt: skip
    assert sampled.returncode == 0, sampled.stderr
    assert sampled.stdout.startswith("First Citizen:")


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker.cli", "train", "--data", str(data), "--out", str(out),
         *TINY, "--max_iters=100000", "--eval_interval=100000", "--log_interval=1",
         "--warmup_iters=1", "--lr_decay_iters=100000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:  # wait until training is under way
        if line.startswith("iter 3:"):
            break
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "stopped at iteration" in rest
    assert load_checkpoint(out / LATEST)["iter_num"] >= 3


@pytest.mark.slow
def test_errors_name_the_field_and_exit_2(data: Path, tmp_path: Path) -> None:
    done = cli("train", "--data", data, "--out", tmp_path, *TINY, "--n_embd=30", "--n_head=4")
    assert done.returncode == 2 and "error: n_embd:" in done.stderr
    done = cli("train", "--data", data, "--out", tmp_path, *TINY, "--block_size=9999999")
    assert done.returncode == 2 and "largest block_size that fits" in done.stderr
    done = cli("train", "--data", data, "--out", tmp_path, "--n_layerz=3")
    assert done.returncode == 2 and "unknown setting 'n_layerz'" in done.stderr
    done = cli("sample", "--ckpt", tmp_path / "none", "--max_new_tokens=5")
    assert done.returncode == 2 and "no checkpoint" in done.stderr
    done = cli("sample", "--ckpt", tmp_path, "--topk=3")
    assert done.returncode == 2 and "unknown sampling setting 'topk'" in done.stderr


@pytest.mark.slow
def test_sample_stops_at_the_end_of_a_document_when_asked(tmp_path: Path) -> None:
    documents_model(tmp_path, eot_logit=50.0)  # always the end-of-text token
    knobs = ["--start", "ab", "--max_new_tokens=3", "--temperature=0"]
    for value, shown in (("True", "ab"), ("1", "ab"), ("false", "ab" + "<|endoftext|>" * 3)):
        done = cli("sample", "--ckpt", tmp_path, *knobs, f"--stop_at_eot={value}")
        assert done.returncode == 0, done.stderr
        assert done.stdout == shown + "\n---------------\n"
    done = cli("sample", "--ckpt", tmp_path, *knobs, "--stop_at_eot=maybe")
    assert done.returncode == 2
    assert "error: stop_at_eot: stop_at_eot must be true or false (or 1 or 0), got 'maybe'" in (
        done.stderr
    )


def test_prepare_refuses_bad_text_with_its_position(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"hello\nwor\xffld\n")
    done = cli("prepare", bad, "--out", tmp_path / "data")
    assert done.returncode == 2 and "not UTF-8" in done.stderr and "line 2" in done.stderr
    assert not (tmp_path / "data").exists()


def test_help_lists_the_workflow() -> None:
    done = cli("--help")
    assert done.returncode == 0
    for command in ("prepare", "train", "sample"):
        assert command in done.stdout


def test_prepare_reads_files_folders_and_archives_as_documents(tmp_path: Path) -> None:
    import json
    import tarfile

    from worker.engine.data.prepare import read_meta

    notes = tmp_path / "notes"
    notes.mkdir()
    for i in range(12):
        (notes / f"{i:02}.md").write_text(f"Note {i}: {shakespeare(300)}\n", encoding="utf-8")
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps({"q": "?", "a": f"answer {i}"}) + "\n" for i in range(5)))
    archive = tmp_path / "more.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(notes / "00.md", arcname="copy.md")  # the same text as a note: a duplicate
    out = tmp_path / "deep" / "data"
    asked = cli("prepare", notes, qa, archive, "--tokenizer", "gpt2", "--out", out)
    assert asked.returncode == 2 and "text_field" in asked.stderr and "('q', 'a')" in asked.stderr
    assert not (tmp_path / "deep").exists()  # nothing left behind, the folders made included
    done = cli("prepare", notes, qa, archive, "--text_field", "a", "--dedup",
               "--tokenizer", "gpt2", "--out", out)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"{notes}: directory, 12 documents" in done.stdout
    assert f"{qa}: jsonl, 5 documents" in done.stdout
    assert "1 exact duplicate documents dropped" in done.stdout
    meta = read_meta(out)
    assert meta["documents"] == 17 and meta["split"] == "documents" and meta["eot_id"] == 50256
    assert [p.name for p in out.parent.iterdir()] == ["data"]  # the scratch corpus is gone


def test_train_says_every_error_at_once(data: Path, tmp_path: Path) -> None:
    done = cli("train", "--data", data, "--out", tmp_path, *TINY, "--n_embd=30", "--n_head=4",
               "--dropout=1.5", "--block_size=9999999")  # fmt: skip
    assert done.returncode == 2
    said = [
        line.split(":")[1].strip() for line in done.stderr.splitlines() if line.startswith("error:")
    ]
    assert said == ["n_embd", "dropout", "block_size"]
    assert not any(tmp_path.iterdir())  # nothing started


@pytest.mark.slow
def test_a_budget_run_is_planned_on_this_machine_keeping_the_knobs_set(
    data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    done = cli("train", "--data", data, "--out", out, "--budget", "10s", "--calibrate",
               "--n_layer=1", "--device=cpu")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "budget: speed: measured on CPU" in done.stderr
    assert "budget: 1 layers ×" in done.stderr
    saved = load_checkpoint(out / LATEST)["config"]
    assert saved["n_layer"] == 1 and saved["lr_schedule"] == "wsd"
    assert 0 < saved["time_budget_s"] < 10
    assert done.stdout.strip().splitlines()[-1].startswith("completed at iteration")


def test_a_bad_budget_names_the_field(data: Path, tmp_path: Path) -> None:
    done = cli("train", "--data", data, "--out", tmp_path, "--budget", "10y")
    assert done.returncode == 2
    assert "budget" in done.stderr
