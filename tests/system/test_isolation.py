"""The web process never imports torch; the engine never imports the service stack."""

import subprocess
import sys


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
