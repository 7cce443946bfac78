"""Behind a reverse proxy: believe X-Forwarded-Proto, -For and -Host from trusted proxies only.

A TLS proxy (nginx, Caddy) talks plain HTTP to the API and says in these headers what the
browser asked for. Believed, they make the request look as the browser sent it: the scheme
is https (so the session cookie gets `Secure`), the client is the browser's address (so
wrong tokens are counted per person, not per proxy) and the Host is the public name (so the
Origin check on cookie POSTs compares like with like). Believed from anyone, they would let
a client pick its own address and dodge the wrong-token limit, so only a peer listed in
`STUDIO_FORWARDED_ALLOW_IPS` is believed; from anyone else they are ignored.

Scheme and client are uvicorn's `ProxyHeadersMiddleware` (its `forwarded_allow_ips`),
run in the app rather than by the server so that `api`, `serve` and the in-process test
client behave the same; it does not read X-Forwarded-Host, which this adds with the same
list of trusted peers.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware


class ForwardedHeadersMiddleware:
    def __init__(self, app: ASGIApp, trusted: str) -> None:
        self.app = app
        self.proxy = ProxyHeadersMiddleware(app, trusted_hosts=trusted)  # type: ignore[arg-type]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._from_trusted_proxy(scope):
            forwarded_host = _first(scope["headers"], b"x-forwarded-host")
            if forwarded_host:
                scope["headers"] = [
                    (name, forwarded_host if name == b"host" else value)
                    for name, value in scope["headers"]
                ]
        await self.proxy(scope, receive, send)  # type: ignore[arg-type]

    def _from_trusted_proxy(self, scope: Scope) -> bool:
        # uvicorn's own parsed list (addresses, networks, `*`), so both halves agree on who
        # is a proxy; tests/system/test_reverse_proxy.py runs it behind nginx.
        client = scope.get("client")
        return bool(client) and client[0] in self.proxy.trusted_hosts


def _first(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The first value of a header; a list (`a, b`: proxies one behind another) gives its
    first entry, the name the browser used."""
    for key, value in headers:
        if key == name:
            first = value.split(b",", 1)[0].strip()
            return first or None
    return None
