"""Jinja2 environment (autoescaped), the filters the templates use, and the one way a page
is answered: HTML with the Content-Security-Policy and friends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

from app.web import formatting

# Package data: app/web/templates and app/web/static are links to the top-level folders in a
# checkout, and real folders in a wheel (setuptools copies through the links), so the same
# path serves a checkout, an editable install and `pip install .` alike.
TEMPLATES_DIR = (Path(__file__).parent / "templates").resolve()
STATIC_DIR = (Path(__file__).parent / "static").resolve()

# No inline script or style anywhere: data for scripts travels in data- attributes or in a
# <script type="application/json"> block, which is data, not code, and CSP does not block it.
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def _json_script(value: Any) -> Markup:
    """JSON safe inside <script type="application/json">: no `<`, `>`, `&` to end the block."""
    text = json.dumps(value, separators=(",", ":"), default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _make_env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        bytes=formatting.human_bytes,
        number=formatting.number,
        loss=formatting.loss,
        bpc=formatting.bpc,
        percent=formatting.percent,
        when=formatting.when,
        duration=formatting.duration,
        vocab_char=formatting.vocab_char,
        codepoint=formatting.codepoint,
        json_script=_json_script,
    )
    env.globals["state_tone"] = formatting.state_tone
    env.globals["loss_unit"] = formatting.loss_unit
    env.globals["best_val"] = formatting.best_val
    env.globals["unit_labels"] = formatting.UNIT_LABELS
    env.globals["state_vocabulary"] = formatting.state_vocabulary()
    return env


ENV = _make_env()


def render(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    html = ENV.get_template(template).render(request=request, **context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
