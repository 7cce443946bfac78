"""The dashboard's pages through the ASGI client: status codes, key content, escaping, the
login redirect and form, HTML error pages, and the Content-Security-Policy they live under.
No workers run here (jobs wait in the queue); the browser suite drives the live parts."""

from __future__ import annotations

import re

import pytest
from studio_stack import TOKEN

from app.api.auth import COOKIE_NAME
from app.web.knobs import KNOBS

BEARER = {"Authorization": f"Bearer {TOKEN}"}
EVIL = "<script>alert('x')</script>&amp;"
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)
STYLE_ATTR = re.compile(r"<[^>]+\sstyle\s*=", re.IGNORECASE)


@pytest.fixture
def dataset(web) -> dict:
    body = "First Citizen:\nBefore we proceed any further, hear me speak. <b>bold</b> & co\n" * 40
    response = web.post(
        "/api/v1/datasets",
        files={"file": (f"{EVIL}.txt", body.encode(), "text/plain")},
        headers=BEARER,
    )
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def run(web, dataset) -> dict:
    config = {"n_layer": 1, "n_head": 2, "n_embd": 32, "block_size": 16, "max_iters": 50}
    response = web.post(
        "/api/v1/runs",
        json={
            "dataset_id": dataset["id"],
            "preset": "tiny-cpu",
            "config": config,
            "name": EVIL,
        },
        headers=BEARER,
    )
    assert response.status_code == 201, response.text
    return response.json()


def assert_page(response, status: int = 200) -> str:
    """An HTML page under the strict CSP, with no inline code or styles in it."""
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "unsafe-inline" not in csp
    html = response.text
    for attrs in SCRIPT_TAG.findall(html):
        assert "src=" in attrs or 'type="application/json"' in attrs, attrs
    assert not INLINE_HANDLER.search(html)
    assert not STYLE_ATTR.search(html)
    assert "<!doctype html>" in html.lower()
    return html


def row_of(html: str, marker: str) -> str:
    """The table row <tr MARKER>…</tr> of a page."""
    start = html.index(f"<tr {marker}>")
    return html[start : html.index("</tr>", start)]


def test_pages_without_a_session_go_to_login(web):
    web.cookies.clear()
    for path in ("/", "/upload", "/runs/new", "/runs/1", "/datasets/1", "/compare?run=1", "/docs"):
        response = web.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next=")
    html = assert_page(web.get("/login?next=/upload"))
    assert 'name="token"' in html and 'type="password"' in html
    assert 'value="/upload"' in html


def test_login_form_sets_the_cookie_and_goes_back(web):
    web.cookies.clear()
    wrong = web.post("/login", data={"token": "nope", "next": "/upload"})
    error = assert_page(wrong, 401)
    assert "That token is not right" in error
    assert "`" not in error  # said in words, not in Markdown
    response = web.post("/login", data={"token": TOKEN, "next": "/upload"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/upload"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and TOKEN not in cookie
    web.cookies.set(COOKIE_NAME, response.cookies[COOKIE_NAME])
    assert web.get("/upload", follow_redirects=False).status_code == 200
    # Signed in, /login goes straight on.
    assert web.get("/login?next=/compare", follow_redirects=False).headers["location"] == (
        "/compare"
    )


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil"])
def test_login_never_redirects_off_site(web, target):
    web.cookies.clear()
    response = web.post("/login", data={"token": TOKEN, "next": target}, follow_redirects=False)
    assert response.headers["location"] == "/"


def test_login_from_another_origin_is_refused(web):
    web.cookies.clear()
    response = web.post("/login", data={"token": TOKEN}, headers={"Origin": "http://evil.example"})
    assert_page(response, 403)
    assert COOKIE_NAME not in response.cookies


def test_logout_clears_the_cookie(web):
    response = web.post("/logout", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert f'{COOKIE_NAME}=""' in response.headers["set-cookie"]


def test_home_when_empty_offers_the_sample(web):
    html = assert_page(web.get("/"))
    assert "Try it with Tiny Shakespeare" in html
    assert 'data-action="sample"' in html
    assert "/static/js/home.js" in html


def test_home_lists_datasets_and_runs_escaped(web, dataset, run):
    html = assert_page(web.get("/"))
    assert EVIL not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;amp;" in html
    assert f'href="/runs/{run["id"]}"' in html
    assert f'href="/datasets/{dataset["id"]}"' in html
    # No worker runs here: the run waits for its data, whose preparation waits in the queue.
    run_row = row_of(html, f'data-run-id="{run["id"]}"')
    assert '<span class="state" data-tone="busy" data-field="state">preparing</span>' in run_row
    dataset_row = row_of(html, f'data-dataset-id="{dataset["id"]}"')
    queued = '<span class="state" data-tone="waiting" title="char, validation 0.1: queued">char'
    assert queued in dataset_row


def test_upload_page_carries_the_size_limit(web, local_env):
    from app.store.settings import get_settings

    html = assert_page(web.get("/upload"))
    assert f'data-max-bytes="{get_settings().max_upload_bytes}"' in html
    assert "Drop files, a folder or an archive here" in html
    assert '<input id="file" name="file" type="file" multiple' in html  # several files
    assert "webkitdirectory" in html  # and a folder
    for tokenizer in ("<code>char</code>", "<code>gpt2</code>", "<code>bpe</code>"):
        assert tokenizer in html  # every tokenizer it can be prepared with, by its name


def test_dataset_page_shows_figures_preview_and_vocabulary(web, dataset, run):
    html = assert_page(web.get(f"/datasets/{dataset['id']}"))
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; co" in html  # the preview, escaped
    assert "<b>bold</b>" not in html
    assert 'title="U+000A">↵</li>' in html and 'title="U+0020">␣</li>' in html
    assert f"{dataset['characters']:,}" in html
    assert f'href="/runs/{run["id"]}"' in html  # the runs that used it
    assert 'name="tokenizer" value="gpt2"' in html
    # The page data for the script is JSON that cannot close its <script> block.
    block = html.split('id="page-data">', 1)[1].split("</script>", 1)[0]
    assert "<" not in block and "\\u003cb\\u003ebold" in block


def test_dataset_page_shows_a_corpus_sources_lengths_and_documents(web):
    files = [
        ("file", (f"{EVIL}/a.txt", b"<i>first</i> document\n", "text/plain")),
        ("file", (f"{EVIL}/b.jsonl", b'{"text": "second"}\n{"text": "third"}\n', "text/plain")),
        ("file", (f"{EVIL}/c.png", b"\x89PNG\r\n\x1a\n" + bytes(40), "image/png")),
    ]
    response = web.post("/api/v1/datasets", files=files[:2], headers=BEARER)
    assert response.status_code == 201, response.text
    html = assert_page(web.get(f"/datasets/{response.json()['id']}"))
    sources = html.split("data-sources", 1)[1].split("</table>", 1)[0]
    assert sources.count("<tr>") == 3  # the head and two sources
    assert "&lt;script&gt;" in sources and "<script>" not in sources  # names are escaped
    assert "jsonl" in sources and "text" in sources
    assert html.count('class="hist-bar"') >= 1
    documents = html.split("data-preview", 1)[1].split("</ol>", 1)[0]
    assert documents.count("<li>") == 3 and documents.count('class="boundary"') == 3
    assert "&lt;i&gt;first&lt;/i&gt;" in documents and '{"text"' not in documents
    # a binary file in a folder upload is refused at once, naming it
    refused = web.post("/api/v1/datasets", files=files[2:], headers=BEARER)
    assert refused.status_code == 415 and "c.png" in refused.json()["error"]["message"]


def test_new_run_form_has_every_engine_knob(web, dataset):
    from app.planning.run_config import SERVICE_FIELDS
    from worker.engine.config.train_config import TrainConfig

    html = assert_page(web.get(f"/runs/new?dataset={dataset['id']}"))
    service_owned = {*SERVICE_FIELDS, "tags"}
    for name in TrainConfig().to_dict():
        if name in service_owned:
            continue
        assert name in KNOBS, f"{name} has no field in app/web/knobs.py"
        assert f'name="{name}"' in html, name
        assert f'for="knob-{name}"' in html, name  # every input has a label
    for preset in ("tiny-cpu", "shakespeare-char", "gpt2-small"):
        assert f'<option value="{preset}"' in html
    for legend in ("Data", "Model", "Optimiser", "Schedule", "Evaluation", "System"):
        assert f"<legend>{legend}" in html
    assert f'<option value="{dataset["id"]}" selected' in html
    assert "Copy as curl" in html and "Copy as CLI" in html
    from worker.engine.config.train_config import INT_MAXIMA

    for name, most in INT_MAXIMA.items():  # the inputs stop where the engine does
        field = re.search(rf'<input id="knob-{name}"[^>]*>', html)
        assert field and f'max="{most}"' in field.group(0), name


def test_clone_form_starts_from_the_run(web, run):
    html = assert_page(web.get(f"/runs/new?from={run['id']}"))
    assert 'name="n_embd" type="number"' in html
    assert re.search(r'name="n_embd"[^>]*value="32"', html)
    assert re.search(r'name="block_size"[^>]*value="16"', html)
    assert "Clone “&lt;script&gt;" in html


def test_run_page(web, run):
    html = assert_page(web.get(f"/runs/{run['id']}"))
    assert EVIL not in html and "&lt;script&gt;alert" in html
    for marker in (
        "data-chart",
        "data-sample-form",
        "data-checkpoints",
        "data-log",
        "data-smoothing",
        'data-fig="attempts"',  # a run resumed after a crash says which attempt it is on
        "data-evaluation-form",
    ):
        assert marker in html
    assert f'href="/runs/new?from={run["id"]}"' in html
    assert "/static/vendor/uplot/uPlot.min.css" in html
    assert 'data-action="cancel"' in html
    # Sampling starts from the run's own text, not from a play it never read.
    assert ">First Citizen:</textarea>" in html


@pytest.mark.parametrize(
    ("documents", "prompt"),
    [
        (["import os\nimport sys\n"], "import os"),
        (["", "  {'role': 'user'}\n"], "{'role': 'user'}"),
        (["word " * 30], "word word word word word word word word"),
        (["x" * 60], "x" * 40),
        ([], ""),
        (None, ""),
    ],
)
def test_the_sampling_prompt_is_the_start_of_a_document(documents, prompt):
    from app.web.pages.runs import default_prompt

    assert default_prompt(documents) == prompt


def test_run_page_lists_the_warnings_the_run_started_with(web, dataset, run):
    # a 50-step run evaluating every 250 steps: allowed, so started, and said on its page
    # (and no_worker: no train worker is live here; tests/api/test_waiting_api.py)
    assert [w["field"] for w in run["warnings"] if w["code"] != "no_worker"] == ["eval_interval"]
    html = assert_page(web.get(f"/runs/{run['id']}"))
    assert "data-run-warnings" in html and "eval_interval (250) is longer than the run" in html
    plain = web.post(
        f"/api/v1/runs/{run['id']}/clone", json={"config": {"eval_interval": 10}}, headers=BEARER
    ).json()
    assert [w for w in plain["warnings"] if w["code"] != "no_worker"] == []
    assert "data-run-warnings" not in assert_page(web.get(f"/runs/{plain['id']}"))


def test_run_page_shows_the_failure_escaped(web, run):
    from app.store.db import get_db
    from app.store.models import Run

    with get_db().transaction() as session:
        row = session.get(Run, run["id"])
        row.state = "failed"
        row.failure_reason = "diverged"
        row.failure_message = "loss is <b>nan</b> at iteration 3"
    html = assert_page(web.get(f"/runs/{run['id']}"))
    assert 'data-failure role="alert">' in html  # shown, not hidden
    assert "loss is &lt;b&gt;nan&lt;/b&gt; at iteration 3" in html
    assert '<span class="state" data-tone="bad" data-field="state">failed</span>' in html
    home = assert_page(web.get("/"))
    assert 'data-tone="bad" data-field="state">failed</span>' in home


def test_compare_shows_differences(web, dataset, run):
    other = web.post(
        f"/api/v1/runs/{run['id']}/clone",
        json={"name": "wider", "config": {"n_embd": 64}},
        headers=BEARER,
    ).json()
    html = assert_page(web.get(f"/compare?run={run['id']}&run={other['id']}&run=999999"))
    assert re.search(
        r'<th scope="row"><code>n_embd</code></th><td class="mono">32</td>'
        r'<td class="mono">64</td>',
        html,
    )
    assert "<code>n_layer</code>" not in html  # equal settings are left out
    assert "No run 999999" in html
    assert_page(web.get("/compare"))


def test_compare_ranks_runs_by_bits_per_char_on_one_dataset(web, dataset, run):
    from app.store.db import get_db
    from app.store.models import Evaluation

    other = web.post(
        f"/api/v1/runs/{run['id']}/clone",
        json={"name": "bpe run", "tokenizer": "gpt2"},
        headers=BEARER,
    ).json()
    third = web.post(
        f"/api/v1/runs/{run['id']}/clone",
        json={"name": "not evaluated"},
        headers=BEARER,
    ).json()

    def ready(run_id: int, dataset_id: int | None, bpc: float) -> None:
        with get_db().transaction() as session:
            session.add(Evaluation(run_id=run_id, dataset_id=dataset_id, dataset_name="held",
                                   checkpoint="latest", state="ready", progress=1.0, iter=50,
                                   loss=bpc / 2, perplexity=3.0, bits_per_char=bpc, tokens=9,
                                   characters=9, attempts=1))  # fmt: skip

    ready(run["id"], dataset["id"], 2.5)
    ready(other["id"], dataset["id"], 3.5)
    ready(other["id"], dataset["id"], 1.5)  # the newest on the dataset counts
    ready(run["id"], None, 0.1)  # pasted text compares with nothing
    ids = (run["id"], other["id"], third["id"])
    html = assert_page(web.get("/compare?" + "&".join(f"run={i}" for i in ids)))
    assert "data-eval-ranking" in html
    order = [int(m) for m in re.findall(r'data-ranked-run="(\d+)"', html)]
    assert order == [other["id"], run["id"], third["id"]]
    assert "1.5000" in row_of(html, f'data-ranked-run="{other["id"]}"')
    assert "not evaluated on this dataset" in row_of(html, f'data-ranked-run="{third["id"]}"')
    plain = assert_page(web.get(f"/compare?run={third['id']}"))
    assert "data-eval-ranking" not in plain


@pytest.mark.parametrize("path", ["/runs/999999", "/datasets/999999", "/no/such/page"])
def test_not_found_is_a_page_in_the_site_style(web, path):
    html = assert_page(web.get(path), 404)
    assert "Not found" in html and 'href="/"' in html and "/static/css/studio.css" in html


def test_api_errors_stay_json(web):
    response = web.get("/api/v1/runs/999999", headers=BEARER)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert web.get("/api/v1/nope", headers=BEARER).json()["error"]["code"] == "not_found"


def test_server_error_is_a_page_in_the_site_style(web):
    def boom() -> None:
        raise RuntimeError("kaput <b>")

    web.app.add_api_route("/boom-for-test", boom)
    html = assert_page(web.get("/boom-for-test"), 500)
    assert "Something went wrong" in html and "kaput" not in html


def test_static_files_and_vendored_chart(web):
    css = web.get("/static/css/studio.css")
    assert css.status_code == 200 and "prefers-color-scheme: dark" in css.text
    assert css.headers["cache-control"] == "no-cache"
    assert web.get("/static/vendor/uplot/uPlot.esm.js").status_code == 200
    assert web.get("/static/vendor/uplot/LICENSE").status_code == 200
    js = web.get("/static/js/run_page.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert_page(web.get("/static/nope.js"), 404)


def test_every_rule_of_the_stylesheet_is_closed():
    """A rule left open swallows the rules after it (the run form's offer once rendered as
    large unstyled text): every block closes, and only an at-rule holds others."""
    from app.web.templating import STATIC_DIR

    text = re.sub(r"/\*.*?\*/", "", (STATIC_DIR / "css" / "studio.css").read_text(), flags=re.S)
    open_blocks: list[str] = []
    start = 0
    for match in re.finditer(r"[{}]", text):
        if match.group() == "{":
            selector = text[start : match.start()].strip()
            assert all(b.startswith("@") for b in open_blocks), f"{selector!r} inside {open_blocks}"
            open_blocks.append(selector)
        else:
            assert open_blocks, f"a stray }} at {match.start()}"
            open_blocks.pop()
        start = match.end()
    assert open_blocks == []


def test_one_table_of_state_tones_for_pages_and_scripts(web, run):
    """The server hands its tone table to the scripts; none keeps a copy of its own."""
    import json

    from app.web.formatting import STATE_TONES, state_vocabulary
    from app.web.templating import STATIC_DIR

    page = assert_page(web.get(f"/runs/{run['id']}"))
    block = re.search(r'<script type="application/json" id="states">(.*?)</script>', page)
    assert block and json.loads(block.group(1)) == state_vocabulary()
    assert state_vocabulary()["finished"] == ["succeeded", "failed", "cancelled", "pruned"]
    for path in (STATIC_DIR / "js").glob("*.js"):
        text = path.read_text(encoding="utf-8")
        copies = [s for s in STATE_TONES if re.search(rf"\b{s}\s*:\s*\"", text)]
        assert copies == [], f"{path.name} keeps its own tones for {copies}"
    assert 'getElementById("states")' in (STATIC_DIR / "js" / "format.js").read_text()


def test_scripts_never_put_data_into_innerhtml():
    """Server strings reach the DOM through textContent / DOM nodes only."""
    from app.web.templating import STATIC_DIR

    for path in (STATIC_DIR / "js").glob("*.js"):
        text = path.read_text(encoding="utf-8")
        assert "innerHTML" not in text and "insertAdjacentHTML" not in text, path.name
        assert "eval(" not in text and "new Function" not in text, path.name


def test_api_docs_page_uses_the_vendored_swagger_ui(web):
    html = assert_page(web.get("/docs"))
    assert '<link rel="stylesheet" href="/static/vendor/swagger-ui/swagger-ui.css">' in html
    assert '<script src="/static/vendor/swagger-ui/swagger-ui-bundle.js"></script>' in html
    assert '<script type="module" src="/static/js/api_docs.js"></script>' in html
    assert 'data-openapi-url="/openapi.json"' in html
    assert '<a href="/docs" aria-current="page">API</a>' in html
    for path in ("swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE"):
        assert web.get(f"/static/vendor/swagger-ui/{path}").status_code == 200, path
    assert web.get("/redoc").status_code == 404  # FastAPI's own pages are off


def test_openapi_schema_needs_access_like_the_api(web):
    schema = web.get("/openapi.json")  # the session cookie, as Swagger UI sends it
    assert schema.status_code == 200
    assert "/api/v1/runs" in schema.json()["paths"]
    assert not any(path in schema.json()["paths"] for path in ("/docs", "/openapi.json"))
    web.cookies.clear()
    assert web.get("/openapi.json", headers=BEARER).status_code == 200
    refused = web.get("/openapi.json")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"


# A script, stylesheet, module import or CSS url() from another host.
REMOTE_SOURCE = re.compile(
    r"""<script[^>]*\ssrc\s*=\s*["']?(?:https?:)?//"""
    r"""|<link[^>]*\shref\s*=\s*["']?(?:https?:)?//"""
    r"""|\bimport\s*(?:[\w{}*\s,]+\s*from\s*)?\(?\s*["'](?:https?:)?//"""
    r"""|@import\s+(?:url\()?\s*["']?(?:https?:)?//"""
    r"""|url\(\s*["']?(?:https?:)?//""",
    re.IGNORECASE,
)


def test_nothing_is_loaded_from_another_host():
    """No CDN: every template and static file (vendored ones too) loads only from this site."""
    from app.web.templating import STATIC_DIR, TEMPLATES_DIR

    files = [*TEMPLATES_DIR.rglob("*.html"), *STATIC_DIR.rglob("*.js"), *STATIC_DIR.rglob("*.css")]
    assert len(files) > 20
    for path in files:
        text = path.read_text(encoding="utf-8")
        match = REMOTE_SOURCE.search(text)
        assert match is None, f"{path.name}: {text[match.start() : match.end() + 60]!r}"
    assert REMOTE_SOURCE.search('<script src="https://cdn.example/x.js">')  # the check bites
    assert REMOTE_SOURCE.search("@import url(//fonts.example/a.css);")
    assert REMOTE_SOURCE.search('import x from "https://esm.example/x.js"')


def test_the_new_run_form_takes_a_time_budget_and_a_clone_does_not(web, dataset, run):
    html = assert_page(web.get(f"/runs/new?dataset={dataset['id']}"))
    assert 'name="budget"' in html and 'for="budget"' in html
    assert 'data-error-for="budget"' in html  # a refused budget is shown beside its field
    assert "data-budget-reasons" in html
    clone = assert_page(web.get(f"/runs/new?from={run['id']}"))
    assert 'name="budget"' not in clone


def test_a_budget_run_s_page_shows_its_budget(web, dataset):
    body = {"dataset_id": dataset["id"], "tokenizer": "char", "budget": "2m"}
    created = web.post("/api/v1/runs", json=body, headers=BEARER)
    assert created.status_code == 201, created.text
    html = assert_page(web.get(f"/runs/{created.json()['id']}"))
    assert re.search(r'<dt>Budget</dt><dd data-fig="budget">2 min 00 s<', html), html


def test_a_sweep_s_page_lists_its_trials_and_best(web, dataset):
    body = {"dataset_id": dataset["id"], "name": EVIL, "trials": 3,
            "space": {"learning_rate": {"choices": [1e-3, 3e-3]}}}  # fmt: skip
    created = web.post("/api/v1/sweeps", json=body, headers=BEARER)
    assert created.status_code == 201, created.text
    html = assert_page(web.get(f"/sweeps/{created.json()['id']}"))
    assert EVIL not in html and "&lt;script&gt;" in html  # the name, escaped
    assert "0 of 3 trials started" in html and "none scored yet" in html
    assert 'data-action="cancel"' in html and "/static/js/sweep_page.js" in html
    assert "data-effects" in html and 'data-field="compare"' in html
    assert web.get("/sweeps/999999").status_code == 404


def test_compare_names_the_sweep_trial_each_run_is(web, dataset, run):
    from app.store.db import get_db
    from app.store.sweeps import add_trial

    body = {"dataset_id": dataset["id"], "space": {"learning_rate": {"choices": [1e-3, 3e-3]}}}
    sweep = web.post("/api/v1/sweeps", json=body, headers=BEARER).json()
    other = web.post(f"/api/v1/runs/{run['id']}/clone", json={}, headers=BEARER).json()
    with get_db().transaction() as session:
        add_trial(session, sweep_id=sweep["id"], number=4, run_id=run["id"],
                  params={"learning_rate": 1e-3})  # fmt: skip
    html = assert_page(web.get(f"/compare?run={run['id']}&run={other['id']}"))
    cells = re.findall(r"<td>(.*?)</td>", row_of(html, "data-trial-row"))
    assert cells == [f'<a href="/sweeps/{sweep["id"]}">sweep {sweep["id"]}</a> #4', "—"]
    plain = assert_page(web.get(f"/compare?run={other['id']}"))
    assert "data-trial-row" not in plain
