"""The docs stay honest: every API route is in docs/api.md, every README command is real,
every bench script has its figures in docs/benchmarks.md."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from worker.cli import build_parser
from worker.engine.config.presets import PRESETS

ROOT = Path(__file__).resolve().parents[1]
PARAM = re.compile(r"\{[^}]+\}")


def documented_endpoints() -> set[str]:
    """`METHOD /path` pairs as docs/api.md writes them, path parameters blanked."""
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    found = set()
    for method, path in re.findall(r"\b(GET|POST|DELETE|PUT|PATCH) (/[\w/{}.\-]+)", text):
        found.add(f"{method} {PARAM.sub('{}', path.removeprefix('/api/v1'))}")
    return found


def test_every_api_route_is_documented(client) -> None:
    # The OpenAPI schema lists every route (FastAPI keeps included routers whole in
    # app.routes, so walking those finds none).
    routes = client.app.openapi()["paths"]
    assert len(routes) > 20  # the walk sees the API, or this test checks nothing
    documented = documented_endpoints()
    missing = []
    for path, operations in routes.items():
        for method in sorted(m.upper() for m in operations):
            endpoint = f"{method} {PARAM.sub('{}', path.removeprefix('/api/v1'))}"
            if endpoint not in documented:
                missing.append(endpoint)
    assert missing == []


def test_the_openapi_text_names_every_preset(client) -> None:
    schema = client.app.openapi()["components"]["schemas"]["RunCreate"]
    described = schema["properties"]["preset"]["description"]
    named = re.findall(r"[\w-]+", described.split(" (GET /presets)")[0])
    assert named == list(PRESETS)


def readme_commands() -> list[list[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [line.split() for line in re.findall(r"^nanogpt-studio [^\n#]+", text, re.M)]


def test_readme_shows_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make run" in text and "make test" in text
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^run:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


@pytest.mark.parametrize("command", readme_commands(), ids=lambda c: c[1])
def test_readme_cli_examples_parse(command: list[str]) -> None:
    args, extra = build_parser().parse_known_args(command[1:])
    assert hasattr(args, "handler")
    assert all(e.startswith("--") and "=" in e for e in extra)  # nanoGPT-style knobs only
    if getattr(args, "preset", None):
        assert args.preset in PRESETS


def test_every_bench_script_has_figures_in_the_docs() -> None:
    docs = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    scripts = [p for p in (ROOT / "bench").glob("*.py") if not p.name.startswith("_")]
    assert scripts
    assert [p.name for p in scripts if p.name not in docs] == []


def quick_start_lines() -> list[str]:
    """The curl lines of docs/api.md's quick start."""
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.startswith("curl ")]


def _request_model(operation: dict) -> type | None:
    """The pydantic model of an operation's JSON body (None: no JSON body)."""
    from app.api.schemas import datasets, runs, samples

    content = operation.get("requestBody", {}).get("content", {})
    ref = content.get("application/json", {}).get("schema", {}).get("$ref")
    if ref is None:
        return None
    name = ref.rsplit("/", 1)[1]
    return next(getattr(m, name) for m in (datasets, runs, samples) if hasattr(m, name))


def test_the_quick_start_asks_what_the_api_answers(client) -> None:
    """Upload, run, follow, sample: each curl line names a route of the API with its method,
    and its JSON body is one the route accepts; /docs shows the same four lines."""
    import html as html_text

    from studio_stack import TOKEN

    from app.api.auth import COOKIE_NAME
    from app.store.access import session_value

    lines = quick_start_lines()
    assert len(lines) == 4
    paths = client.app.openapi()["paths"]
    routes = {PARAM.sub("{}", p): ops for p, ops in paths.items()}
    for line in lines:
        path = re.search(r"\$S(/\S+)", line).group(1)
        method = "post" if re.search(r" -[dF] ", line) else "get"
        operations = routes.get("/api/v1" + re.sub(r"/\d+", "/{}", path))
        assert operations and method in operations, line
        body = re.search(r"-d '([^']*)'", line)
        model = _request_model(operations[method])
        if body:
            assert model is not None, line
            model.model_validate(json.loads(body.group(1)))  # strict: unknown fields fail
    client.cookies.set(COOKIE_NAME, session_value(TOKEN))
    page = client.get("/docs")
    assert page.status_code == 200
    shown = html_text.unescape(page.text.split("data-quick-start>", 1)[1].split("</pre>", 1)[0])
    assert [line for line in shown.splitlines() if line.startswith("curl ")] == lines
