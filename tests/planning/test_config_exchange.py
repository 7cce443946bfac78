"""Config files in and out through the API: a run's config downloaded as TOML or JSON reads
back (through the form's parse endpoint and the CLI's reader alike) to the same knobs; an
uploaded nanoGPT config/*.py is parsed, never run, with its ignored lines listed."""

from __future__ import annotations

from pathlib import Path

import pytest
from studio_stack import assert_error

from worker.engine.config.files import load_config_file
from worker.engine.config.train_config import TrainConfig

TINY = {"n_layer": 1, "n_head": 2, "n_embd": 32, "block_size": 16, "batch_size": 4,
        "max_iters": 20, "lr_decay_iters": 20, "warmup_iters": 2, "eval_interval": 10,
        "eval_iters": 2, "log_interval": 5, "device": "cpu", "compile": False,
        "gradient_accumulation_steps": 1, "learning_rate": 2.5e-05, "min_lr": 1e-6,
        "early_stop_patience": 3, "wandb_run_name": 'say "hi"\\n'}  # fmt: skip
# nanoGPT's config/finetune_shakespeare.py, as it ships (plus a line that would do harm).
NANOGPT_PY = """import time

out_dir = 'out-shakespeare'
eval_interval = 5
eval_iters = 40
wandb_log = False # feel free to turn on
wandb_project = 'shakespeare'
wandb_run_name = 'ft-' + str(time.time())

dataset = 'shakespeare'
init_from = 'gpt2-xl' # this is the largest GPT-2 model

# only save checkpoints if the validation loss improves
always_save_checkpoint = False

batch_size = 1
gradient_accumulation_steps = 32
max_iters = 20

# finetune at constant LR
learning_rate = 3e-5
decay_lr = False
__import__('os').system('touch /tmp/pwned')
"""


@pytest.fixture
def run(client):
    dataset = client.post("/api/v1/datasets/sample").json()
    body = {"dataset_id": dataset["id"], "preset": "tiny-cpu", "config": TINY, "name": "source"}
    response = client.post("/api/v1/runs", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def knobs(config: dict) -> dict:
    return {k: v for k, v in config.items() if k not in ("data_dir", "out_dir", "tags")}


@pytest.mark.parametrize("file_format", ["toml", "json"])
def test_a_downloaded_config_reads_back_to_the_same_run(client, run, tmp_path, file_format):
    response = client.get(f"/api/v1/runs/{run['id']}/config", params={"format": file_format})
    assert response.status_code == 200
    assert response.headers["content-disposition"] == (
        f'attachment; filename="run-{run["id"]}.{file_format}"'
    )
    assert response.headers["content-type"].startswith(f"application/{file_format}")
    parsed = client.post(
        "/api/v1/configs/parse", json={"filename": f"x.{file_format}", "text": response.text}
    )
    assert parsed.status_code == 200, parsed.text
    assert parsed.json()["format"] == file_format and parsed.json()["ignored"] == []
    assert parsed.json()["config"] == knobs(run["config"])
    # A studio's TOML names the run it came from, for the form to restore; JSON has no room.
    named = {k: run[k] for k in ("name", "dataset_id", "tokenizer", "val_fraction")}
    assert parsed.json()["run"] == (named if file_format == "toml" else None)
    # The CLI's --config reads the same file to the same TrainConfig.
    path = tmp_path / f"run.{file_format}"
    path.write_text(response.text, encoding="utf-8")
    from_cli = TrainConfig.from_mapping(load_config_file(path))
    assert knobs(from_cli.to_dict()) == knobs(run["config"])
    # And a new run from the loaded knobs is the same run.
    dataset_id = run["dataset_id"]
    again = client.post(
        "/api/v1/runs",
        json={"dataset_id": dataset_id, "preset": "shakespeare-char",
              "config": parsed.json()["config"]},
    )  # fmt: skip
    assert again.status_code == 201, again.text
    assert knobs(again.json()["config"]) == knobs(run["config"])


def test_download_errors_keep_the_one_shape(client, run):
    assert_error(client.get("/api/v1/runs/999999/config"), 404, code="not_found")
    assert_error(
        client.get(f"/api/v1/runs/{run['id']}/config", params={"format": "yaml"}),
        422,
        field="format",
    )


def test_a_nanogpt_config_is_parsed_not_run(client, tmp_path: Path):
    marker = Path("/tmp/pwned")
    marker.unlink(missing_ok=True)
    response = client.post(
        "/api/v1/configs/parse", json={"filename": "finetune_shakespeare.py", "text": NANOGPT_PY}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["format"] == "nanogpt"
    assert body["config"] == {
        "eval_interval": 5, "eval_iters": 40, "wandb_log": False,
        "wandb_project": "shakespeare", "init_from": "gpt2-xl",
        "always_save_checkpoint": False, "batch_size": 1, "gradient_accumulation_steps": 32,
        "max_iters": 20, "learning_rate": 3e-5, "decay_lr": False,
    }  # fmt: skip
    ignored = {line["line"]: line for line in body["ignored"]}
    assert sorted(ignored) == [1, 3, 8, 10, 23]
    assert ignored[3]["text"] == "out_dir = 'out-shakespeare'"
    assert "set by the service" in ignored[3]["why"]
    assert "not a literal" in ignored[8]["why"] and "not used here" in ignored[10]["why"]
    assert not marker.exists()


def test_unreadable_or_mistyped_files_are_refused_naming_the_problem(client):
    def parse(filename: str, text: str):
        return client.post("/api/v1/configs/parse", json={"filename": filename, "text": text})

    assert_error(parse("run.toml", "n_layer = = 2"), 422, code="config", field="config")
    assert_error(parse("run.json", "[1, 2]"), 422, field="config")
    assert_error(parse("run.yaml", "n_layer: 2"), 422, field="config")
    assert_error(parse("bad.py", "def f(:\n"), 422, field="config")
    assert_error(parse("nul.py", "n_layer = 2\x00\n"), 422, field="config")
    assert_error(parse("deep.py", "x = " + "(" * 100_000), 422, field="config")
    assert_error(parse("deep.json", "[" * 100_000), 422, field="config")
    assert_error(parse("big.json", '{"seed": ' + "9" * 5000 + "}"), 422, field="config")
    assert_error(parse("big.toml", "seed = " + "9" * 5000), 422, field="config")
    error = assert_error(parse("run.toml", 'n_layer = "many"\ndropout = "lots"\n'), 422)
    assert [p["field"] for p in error["errors"]] == ["n_layer", "dropout"]
    assert error["message"].startswith("run.toml: n_layer must be an integer")
    unknown = parse("run.toml", 'colour = "red"\nn_layer = 3\n').json()
    assert unknown["config"] == {"n_layer": 3}
    assert unknown["ignored"] == [
        {"line": 1, "text": 'colour = "red"', "why": "colour is not a training setting"}
    ]
    assert_error(client.post("/api/v1/configs/parse", json={"filename": "x.toml"}), 422,
                 field="text")  # fmt: skip


def one_megabyte(line: str) -> str:
    """A config file of just under 1,000,000 characters: the largest the API takes."""
    lines, size = [], 0
    while size + len(line) < 1_000_000:
        lines.append(line.format(i=len(lines)) + "\n")
        size += len(lines[-1])
    return "".join(lines)


@pytest.mark.parametrize(
    ("filename", "line"),
    [
        ("big.toml", "not_a_setting_{i:07d} = 12345678901"),
        ("big.py", "not_a_setting_{i:07d} = 12345678901"),
        ("big.py", "n_layer = ((10**64)**64)**64 * {i}"),
    ],
)
def test_a_one_megabyte_config_file_is_answered(client, filename, line):
    """Every key once rescanned the whole text (2,000 keys took 2 s, 1 MB never ended):
    parsing is linear now. Figures: bench/config_parse.py in docs/benchmarks.md."""
    text = one_megabyte(line)
    assert 990_000 < len(text) <= 1_000_000
    response = client.post("/api/v1/configs/parse", json={"filename": filename, "text": text})
    assert response.status_code == 200, response.text[:500]
    ignored = response.json()["ignored"]
    assert len(ignored) == text.count("\n")
    assert ignored[-1]["line"] == len(ignored) and ignored[-1]["text"] == line.format(
        i=len(ignored) - 1
    )


def test_a_config_past_the_limit_is_refused(client):
    longer = {"filename": "big.toml", "text": "#" * 1_000_001}  # the body is under 1 MiB
    assert_error(client.post("/api/v1/configs/parse", json=longer), 422, field="text")
    body = {"filename": "big.toml", "text": "#" * 1_100_000}  # the body is over it
    assert_error(client.post("/api/v1/configs/parse", json=body), 413, "too_large")
