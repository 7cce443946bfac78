"""A non-editable install serves every page, static file and migration. The wheel is built
from exactly what the Dockerfile's wheel stage copies, installed with --no-deps into a folder
of its own (the dependencies come from this venv), and run from there: the server imports
the installed copy, not this checkout (checked), so templates, static files and migrations
must have travelled in the wheel as package data."""

from __future__ import annotations

import email
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from compose_file import REPO
from studio_stack import TOKEN, embedded_broker, free_port

from app.web.pages import router as pages_router

pytestmark = pytest.mark.slow  # builds a wheel: about ten seconds


def wheel_stage_sources() -> list[str]:
    """The paths the Dockerfile's `wheel` stage copies."""
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    stage = text.split(" AS wheel\n", 1)[1].split("\nFROM ", 1)[0]
    sources = []
    for line in stage.splitlines():
        if line.startswith("COPY "):
            sources += line.split()[1:-1]
    assert "app" in sources and "templates" in sources
    return sources


def get_paths(router: object) -> list[str]:
    """Every GET route's path; FastAPI keeps an included router whole (`original_router`)
    and lists its routes only when asked."""
    paths = []
    for route in router.routes:  # type: ignore[attr-defined]
        if hasattr(route, "original_router"):
            paths += get_paths(route.original_router)
        elif "GET" in getattr(route, "methods", ()):
            paths.append(route.path)
    return paths


def run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, **kwargs)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for source in wheel_stage_sources():
        path = REPO / source
        if path.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(path, src / source, symlinks=True, ignore=ignore)
        else:
            shutil.copy2(path, src / source)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp / "dist"), str(src)])  # fmt: skip
    (wheel,) = (tmp / "dist").glob("nanogpt_studio-*.whl")
    site = tmp / "site"
    run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "-q",
         "--target", str(site), str(wheel)])  # fmt: skip
    return {"wheel": wheel, "site": site, "cwd": tmp}


def installed_env(installed: dict[str, Path], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STUDIO_")}
    return {**env, "PYTHONPATH": str(installed["site"]), **extra}


def test_the_installed_copy_is_what_runs_and_carries_its_files(installed) -> None:
    """With PYTHONPATH at the install, `app` and `worker` are found there, not in this
    checkout (the venv's editable finder comes after PYTHONPATH); their files are real
    folders there, not links back to the checkout."""
    probe = (
        "import importlib.util as u; print(u.find_spec('app').origin, u.find_spec('worker').origin)"
    )
    done = run([sys.executable, "-c", probe], cwd=installed["cwd"], env=installed_env(installed))
    site = installed["site"].resolve()
    for origin in done.stdout.split():
        assert Path(origin).resolve().is_relative_to(site), origin
    templates, static = site / "app" / "web" / "templates", site / "app" / "web" / "static"
    migrations = site / "app" / "store" / "migrations"
    for folder, source in ((templates, "templates"), (static, "static")):
        assert folder.is_relative_to(site) and folder.is_dir() and not folder.is_symlink()
        shipped = {p.relative_to(folder) for p in folder.rglob("*") if p.is_file()}
        expected = {p.relative_to(REPO / source) for p in (REPO / source).rglob("*")}
        assert shipped == {p for p in expected if (REPO / source / p).is_file()}
    versions = sorted(p.name for p in (migrations / "versions").glob("*.py"))
    assert versions == sorted(p.name for p in (REPO / "migrations" / "versions").glob("*.py"))
    with zipfile.ZipFile(installed["wheel"]) as wheel:
        name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = email.message_from_bytes(wheel.read(name))
    assert "hf" in metadata.get_all("Provides-Extra")
    assert any(
        "huggingface" in r and 'extra == "hf"' in r for r in metadata.get_all("Requires-Dist")
    )


@pytest.fixture(scope="module")
def installed_api(installed: dict[str, Path]) -> Iterator[tuple[str, dict[str, str]]]:
    """`nanogpt-studio migrate`, then `nanogpt-studio api`, both the installed console script."""
    data = installed["cwd"] / "data"
    script = str(installed["site"] / "bin" / "nanogpt-studio")
    with embedded_broker(data / "valkey") as redis_url:
        env = installed_env(
            installed,
            STUDIO_DATA_DIR=str(data),
            STUDIO_TOKEN=TOKEN,
            STUDIO_REDIS_URL=redis_url,
        )
        run([sys.executable, script, "migrate"], cwd=installed["cwd"], env=env)
        port = free_port()
        log = (installed["cwd"] / "api.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, script, "api", "--port", str(port)],
            cwd=installed["cwd"], env=env, stdout=log, stderr=log,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(url + "/api/v1/health", timeout=2)
                    break
                except httpx.HTTPError:
                    assert time.monotonic() < deadline and process.poll() is None, "no API"
                    time.sleep(0.2)
            yield url, env
        finally:
            process.terminate()
            process.wait(timeout=30)


def test_migrations_from_the_installed_copy_reach_head(installed_api) -> None:
    from alembic.script import ScriptDirectory

    _, env = installed_api
    with sqlite3.connect(Path(env["STUDIO_DATA_DIR"]) / "studio.db") as db:
        (version,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
    assert version == ScriptDirectory(str(REPO / "migrations")).get_current_head()


def test_every_page_and_static_file_is_served(installed_api) -> None:
    url, _ = installed_api
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=url, timeout=30, follow_redirects=True) as browser:
        dataset = browser.post("/api/v1/datasets/sample", headers=bearer).json()
        body = {"dataset_id": dataset["id"], "tokenizer": "char", "preset": "tiny-cpu"}
        created = browser.post("/api/v1/runs", json=body, headers=bearer)
        assert created.status_code == 201, created.text
        space = {"learning_rate": {"choices": [1e-3, 3e-3]}}
        sweep = browser.post(
            "/api/v1/sweeps",
            json={"dataset_id": dataset["id"], "space": space, "trials": 2},
            headers=bearer,
        )
        assert sweep.status_code == 201, sweep.text
        ids = {
            "dataset_id": dataset["id"],
            "run_id": created.json()["id"],
            "sweep_id": sweep.json()["id"],
        }
        assert browser.get("/login").status_code == 200  # before the cookie
        assert browser.get(f"/?token={TOKEN}").status_code == 200  # cookie, then home
        paths = [
            re.sub(r"\{(\w+)(:\w+)?\}", lambda m: str(ids[m.group(1)]), path)
            for path in get_paths(pages_router)
        ]
        assert len(paths) >= 7
        for path in [
            *paths,
            f"/compare?run={ids['run_id']}",
            f"/runs/new?from={ids['run_id']}",
        ]:
            page = browser.get(path)
            assert page.status_code == 200, (path, page.text[:300])
            assert page.headers["content-type"].startswith("text/html")
        missing = browser.get("/runs/999999", headers={"Accept": "text/html"})
        assert missing.status_code == 404 and "<html" in missing.text  # the error template
        static = [p for p in (REPO / "static").rglob("*") if p.is_file()]
        for path in static:
            served = browser.get(f"/static/{path.relative_to(REPO / 'static')}")
            assert served.status_code == 200 and served.content == path.read_bytes(), path
