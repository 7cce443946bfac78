"""Behind a TLS reverse proxy: the nginx block from docs/deploy.md, run for real on loopback
with a self-signed certificate in front of `nanogpt-studio api`. A browser-style login and
a same-origin cookie POST pass and the cookie is Secure; another origin is still refused;
the same headers from a peer that is not a trusted proxy change nothing."""

from __future__ import annotations

import os
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from studio_stack import TOKEN, Stack, assert_error, free_port

from app.store.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
REQUIRE = os.environ.get("STUDIO_REQUIRE_PROXY") == "1"


def test_trusted_proxies_are_addresses_or_networks() -> None:
    assert Settings(forwarded_allow_ips=" 127.0.0.1, 10.0.0.0/8 ").forwarded_allow_ips == (
        "127.0.0.1,10.0.0.0/8"
    )
    assert Settings(forwarded_allow_ips="*").forwarded_allow_ips == "*"
    assert Settings(forwarded_allow_ips="172.28.0.1/24").forwarded_allow_ips == "172.28.0.0/24"
    with pytest.raises(ValidationError, match="'nginx' is not an IP address or network"):
        Settings(forwarded_allow_ips="127.0.0.1,nginx")


def docs_nginx_block(*, port: int, cert: Path, key: Path, upstream: str) -> str:
    """docs/deploy.md's server block, on this test's port, certificate and API."""
    text = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    block = re.search(r"```nginx\n(.*?)```", text, re.S).group(1)
    for old, new in (
        ("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;"),
        ("http://127.0.0.1:8000", upstream),
    ):
        assert old in block, old  # the docs changed: change this test with them
        block = block.replace(old, new)
    block = re.sub(r"ssl_certificate +\S+;", f"ssl_certificate {cert};", block)
    return re.sub(r"ssl_certificate_key +\S+;", f"ssl_certificate_key {key};", block)


def nginx_binary() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if found is None:
        message = "nginx not installed (make proxy-deps)"
        if REQUIRE:
            pytest.fail(message + "; required with STUDIO_REQUIRE_PROXY=1")
        pytest.skip(message)
    return found


def wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text(errors="replace")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError("nginx did not listen: " + log.read_text(errors="replace"))


@pytest.fixture(scope="module")
def proxied(local_env, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """The API trusting 127.0.0.1, and nginx on 127.0.0.1 with TLS in front of it."""
    binary = nginx_binary()
    tmp = tmp_path_factory.mktemp("proxy")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    stack = Stack({**local_env, "STUDIO_FORWARDED_ALLOW_IPS": "127.0.0.1"}, tmp)
    stack.start_api()
    port = free_port()
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    temp_paths = " ".join(f"{kind}_temp_path {tmp / kind};" for kind in kinds)
    user = "user root;" if os.geteuid() == 0 else ""
    config = tmp / "nginx.conf"
    config.write_text(
        f"{user} worker_processes 1; daemon off; pid {tmp / 'nginx.pid'};\n"
        f"error_log {tmp / 'error.log'};\nevents {{ worker_connections 64; }}\n"
        f"http {{ access_log off; {temp_paths}\n"
        + docs_nginx_block(port=port, cert=cert, key=key, upstream=stack.url)
        + "}\n"
    )
    log = tmp / "nginx.out"
    with log.open("wb") as out:
        nginx = subprocess.Popen(
            [binary, "-p", str(tmp), "-e", str(tmp / "error.log"), "-c", str(config)],
            stdout=out, stderr=out,
        )  # fmt: skip
    try:
        wait_for_port(port, nginx, log)
        yield {"url": f"https://127.0.0.1:{port}", "cert": cert, "api": stack.url}
    finally:
        nginx.terminate()
        nginx.wait(timeout=30)
        stack.stop()


def browser(proxied: dict[str, object]) -> httpx.Client:
    tls = ssl.create_default_context(cafile=str(proxied["cert"]))
    return httpx.Client(base_url=str(proxied["url"]), verify=tls, timeout=30)


def session_cookie_header(response: httpx.Response) -> str:
    (header,) = [h for h in response.headers.get_list("set-cookie") if "studio_session=" in h]
    return header.lower()


def test_login_and_a_same_origin_post_pass_through_tls_with_a_secure_cookie(proxied) -> None:
    origin = {"Origin": str(proxied["url"])}
    with browser(proxied) as client:
        assert client.get("/login").status_code == 200
        login = client.post("/login", data={"token": TOKEN, "next": "/upload"}, headers=origin)
        assert login.status_code == 303, login.text
        assert login.headers["location"] == "/upload"
        cookie = session_cookie_header(login)
        assert "; secure" in cookie and "; httponly" in cookie and "samesite=lax" in cookie
        # The browser sends a Secure cookie back over https; a POST from the page passes.
        created = client.post("/api/v1/datasets/sample", headers=origin)
        assert created.status_code in (200, 201), created.text
        refused = client.post("/api/v1/datasets/sample", headers={"Origin": "https://evil.example"})
        assert_error(refused, 403, "forbidden", "origin")
        assert client.get("/upload").status_code == 200

    with browser(proxied) as client:  # the ?token= link: the same Secure cookie
        link = client.get(f"/?token={TOKEN}")
        assert link.status_code == 303 and "; secure" in session_cookie_header(link)


def test_forwarded_headers_from_an_untrusted_peer_change_nothing(proxied) -> None:
    """127.0.0.2 is this machine too, but not in STUDIO_FORWARDED_ALLOW_IPS."""
    claims = {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": str(proxied["url"]).removeprefix("https://"),
        "X-Forwarded-For": "203.0.113.9",
        "Origin": str(proxied["url"]),
    }
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=str(proxied["api"]), transport=transport, timeout=30) as client:
        login = client.post("/login", data={"token": TOKEN}, headers=claims)
        assert login.status_code == 403 and "Sign in from this site itself" in login.text
        link = client.get(f"/?token={TOKEN}", headers=claims)
        assert link.status_code == 303 and "; secure" not in session_cookie_header(link)
