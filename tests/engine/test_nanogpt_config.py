"""nanoGPT's config/*.py files are read as data (ast), never run; ignored lines are named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from engine_helpers import prepared, shakespeare

from worker.engine.checkpoints.files import LATEST, load_checkpoint
from worker.engine.config.files import load_config_file
from worker.engine.config.nanogpt_files import parse_nanogpt_config
from worker.engine.config.train_config import TrainConfig
from worker.engine.errors import ConfigError

# The settings of nanoGPT's config/train_shakespeare_char.py, laid out as it lays them out.
SHAKESPEARE_CHAR = """\
# a small character-level model
out_dir = 'out-shakespeare-char'
eval_interval = 250 # evaluate often: it overfits
eval_iters = 200
log_interval = 10

always_save_checkpoint = False

wandb_log = False
wandb_project = 'shakespeare-char'
wandb_run_name = 'mini-gpt'

dataset = 'shakespeare_char'
gradient_accumulation_steps = 1
batch_size = 64
block_size = 256

n_layer = 6
n_head = 6
n_embd = 384
dropout = 0.2

learning_rate = 1e-3
max_iters = 5000
lr_decay_iters = 5000
min_lr = 1e-4
beta2 = 0.99

warmup_iters = 100

# device = 'cpu'
# compile = False
"""

# The shape of nanoGPT's config/finetune_shakespeare.py: an import and a computed name.
FINETUNE = """\
import time

out_dir = 'out-shakespeare'
eval_interval = 5
eval_iters = 40
wandb_log = False
wandb_project = 'shakespeare'
wandb_run_name = 'ft-' + str(time.time())

dataset = 'shakespeare'
init_from = 'gpt2-xl'
always_save_checkpoint = False
batch_size = 1
gradient_accumulation_steps = 32
max_iters = 20
learning_rate = 3e-5
decay_lr = False
"""


def test_shakespeare_char_config_reads_whole() -> None:
    parsed = parse_nanogpt_config(SHAKESPEARE_CHAR)
    assert parsed.values == {
        "out_dir": "out-shakespeare-char", "eval_interval": 250, "eval_iters": 200,
        "log_interval": 10, "always_save_checkpoint": False, "wandb_log": False,
        "wandb_project": "shakespeare-char", "wandb_run_name": "mini-gpt",
        "gradient_accumulation_steps": 1, "batch_size": 64, "block_size": 256, "n_layer": 6,
        "n_head": 6, "n_embd": 384, "dropout": 0.2, "learning_rate": 1e-3, "max_iters": 5000,
        "lr_decay_iters": 5000, "min_lr": 1e-4, "beta2": 0.99, "warmup_iters": 100,
    }  # fmt: skip
    assert [(i.line, i.text) for i in parsed.ignored] == [(13, "dataset = 'shakespeare_char'")]
    assert "--data" in parsed.ignored[0].why
    cfg = TrainConfig.from_mapping(parsed.values)
    assert cfg.n_embd == 384 and cfg.min_lr == 1e-4


def test_finetune_config_reports_what_it_skips() -> None:
    parsed = parse_nanogpt_config(FINETUNE)
    assert parsed.values["init_from"] == "gpt2-xl" and parsed.values["learning_rate"] == 3e-5
    assert "wandb_run_name" not in parsed.values
    assert [str(i) for i in parsed.ignored] == [
        "line 1: import time  (not a plain assignment)",
        "line 8: wandb_run_name = 'ft-' + str(time.time())  (not a literal value)",
        "line 10: dataset = 'shakespeare'  (dataset is not used here: the data comes from "
        "--data (or the dataset chosen in the studio))",
    ]


def test_number_arithmetic_is_evaluated_and_nothing_else() -> None:
    parsed = parse_nanogpt_config(
        "gradient_accumulation_steps = 5 * 8\nmax_iters = 6 * 10**5\nmin_lr = -(-6e-5)\n"
        "lr_decay_iters = 10 ** 10 ** 10\nblock_size = 'a' * 3\nbatch_size = 1 // 0\n"
        "n_layer = layers = 4\nstart = 'FILE:prompt.txt'\n"
    )
    assert parsed.values == {"gradient_accumulation_steps": 40, "max_iters": 600000,
                             "min_lr": 6e-5, "n_layer": 4}  # fmt: skip
    assert [i.line for i in parsed.ignored] == [4, 5, 6, 7, 8]
    assert "layers is not a training setting" in str(parsed.ignored[3])
    assert "start is not a training setting" in str(parsed.ignored[4])


def test_a_config_is_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    source = (
        f"open({str(marker)!r}, 'w').write('x')\n"
        f"batch_size = __import__('os').system('touch {marker}')\n"
        "if True:\n    n_layer = 99\n"
        "def f():\n    pass\n"
        "eval_iters: int = 7\n"
        "learning_rate = [].__class__\n"
    )
    parsed = parse_nanogpt_config(source)
    assert parsed.values == {}
    assert [i.line for i in parsed.ignored] == [1, 2, 3, 5, 7, 8]
    assert not marker.exists()


def test_bad_python_names_the_config_field() -> None:
    with pytest.raises(ConfigError, match=r"not valid Python: .*line 1") as caught:
        parse_nanogpt_config("batch_size = = 3\n")
    assert caught.value.field == "config"


def test_load_config_file_hooks_py_files(tmp_path: Path) -> None:
    path = tmp_path / "finetune_shakespeare.py"
    path.write_text(FINETUNE)
    lines: list[str] = []
    values = load_config_file(path, report=lines.append)
    assert values["batch_size"] == 1 and len(lines) == 3
    assert (
        lines[0] == "finetune_shakespeare.py: ignored line 1: import time  (not a plain assignment)"
    )


@pytest.mark.slow
def test_cli_train_with_a_nanogpt_config(tmp_path: Path) -> None:
    data = prepared(tmp_path, shakespeare(20_000))
    config = tmp_path / "train_tiny_char.py"
    config.write_text(
        "import time\nout_dir = 'out-ignored'\ndataset = 'shakespeare_char'\n"
        "n_layer = 1\nn_head = 2\nn_embd = 16\nblock_size = 16\nbatch_size = 4\n"
        "max_iters = 4\neval_interval = 4\neval_iters = 2\nlr_decay_iters = 4\n"
        "warmup_iters = 1\ndevice = 'cpu'\ncompile = False\n"
        "wandb_run_name = 'mini-' + str(time.time())\n"
    )
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "worker.cli", "train", "--data", str(data), "--out", str(out),
         "--config", str(config), "--gradient_accumulation_steps=1"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "train_tiny_char.py: ignored line 1: import time" in done.stderr
    assert "ignored line 3: dataset = 'shakespeare_char'" in done.stderr
    assert "ignored line 16: wandb_run_name" in done.stderr
    config_saved = load_checkpoint(out / LATEST)["config"]
    assert config_saved["n_embd"] == 16 and config_saved["out_dir"] == str(out)  # --out wins
