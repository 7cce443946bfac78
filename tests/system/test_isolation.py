"""The web process never imports torch; the engine never imports the service stack."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# set by a process that chooses the wait policy (as this one does): the child starts without
WAIT_POLICY_VARIABLES = ("OMP_WAIT_POLICY", "STUDIO_OMP_WAIT_CHOSEN")


def imported_after(code: str, modules: list[str]) -> list[str]:
    probe = f"import sys\n{code}\nprint(','.join(m for m in {modules!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return [m for m in out.stdout.strip().split(",") if m]


def test_app_main_does_not_import_torch():
    assert imported_after("import app.main; app.main.create_app", ["torch"]) == []


def test_app_commands_is_light():
    heavy = ["torch", "fastapi", "celery", "uvicorn", "sqlalchemy"]
    assert imported_after("import app.commands", heavy) == []


def test_engine_does_not_import_the_service_stack():
    code = (
        "import worker.engine.training.loop, worker.engine.data.prepare, "
        "worker.engine.sampling.sample"
    )
    assert imported_after(code, ["fastapi", "celery", "sqlalchemy", "app", "redis"]) == []


def test_preflight_and_presets_do_not_import_torch():
    """The API checks every new run with the engine's preflight, without paying for torch."""
    code = (
        "from worker.engine.config.preflight import preflight\n"
        "from worker.engine.config.presets import preset_config\n"
        "cfg = preset_config('tiny-cpu')\n"
        "preflight(cfg, {'train_tokens': 10_000, 'val_tokens': 1_000,\n"
        "                'tokenizer': {'kind': 'char', 'chars': ['a']}})"
    )
    assert imported_after(code, ["torch"]) == []


# Imports app.main and every module of worker.engine, then reports what the imports did:
# variables of os.environ changed, files other than code read from a line of ours (library
# imports read their own metadata), /proc/loadavg read by anyone, torch settings changed.
IMPORT_EVERYTHING = """
import importlib, json, os, pkgutil, sys
import torch
OURS = os.path.join(os.getcwd(), "worker") + os.sep
CODE = (".py", ".pyc", ".so")
read, loadavg = [], []
def ours(frame):
    while frame is not None:  # the innermost frame outside the standard library decides
        name = frame.f_code.co_filename
        if not name.startswith(("<frozen", sys.base_prefix)):
            return name.startswith(OURS)
        frame = frame.f_back
    return False
def watch(event, args):
    if event != "open" or not isinstance(args[0], str | os.PathLike):
        return
    path = os.fsdecode(args[0])
    if path == "/proc/loadavg":
        loadavg.append(path)
    elif not path.endswith(CODE) and not os.path.isdir(path) and ours(sys._getframe(1)):
        read.append(path)
def settings():
    return [torch.get_num_threads(), str(torch.get_default_dtype()),
            torch.get_float32_matmul_precision(), torch.backends.cudnn.benchmark,
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
            torch.are_deterministic_algorithms_enabled(), torch.is_grad_enabled()]
torch_before, env_before = settings(), dict(os.environ)
sys.addaudithook(watch)
import app.main, worker.engine
for module in pkgutil.walk_packages(worker.engine.__path__, "worker.engine."):
    importlib.import_module(module.name)
changed = sorted(k for k in env_before.keys() | os.environ.keys()
                 if env_before.get(k) != os.environ.get(k))
print(json.dumps({"changed": changed, "read": read, "loadavg": loadavg,
                  "torch": [settings(), torch_before]}))
"""


def test_importing_the_engine_or_the_app_does_no_work():
    """A process that imports the engine (the API does) keeps its environment, reads no file
    and changes no torch setting: work such as choosing the wait policy happens where a
    training process starts (worker.engine.wait_policy)."""
    env = {k: v for k, v in os.environ.items() if k not in WAIT_POLICY_VARIABLES}
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=ROOT,
    )
    seen = json.loads(out.stdout)
    assert seen["changed"] == []
    assert seen["read"] == []
    assert seen["loadavg"] == []
    torch_after, torch_before = seen["torch"]
    assert torch_after == torch_before
