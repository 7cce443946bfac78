"""Service commands for `nanogpt-studio`: serve, api, worker, migrate, healthcheck.

`worker.cli` calls `register(subparsers)`; `python -m app.commands ...` runs them alone.
Importing this module is light: FastAPI, Celery and uvicorn are imported by the handlers."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _apply(args: argparse.Namespace) -> Any:
    """Command-line flags become STUDIO_* variables, so child processes see them too."""
    from worker.engine.wait_policy import wait_passively

    wait_passively()  # a service process lives beside others; its training children choose
    for flag in ("host", "port", "data_dir"):
        value = getattr(args, flag, None)
        if value is not None:
            os.environ[f"STUDIO_{flag.upper()}"] = str(value)
    from app.store.settings import get_settings

    get_settings.cache_clear()
    return get_settings()


def _serve(args: argparse.Namespace, _extra: list[str] | None = None) -> int:
    from app.supervisor import serve

    return serve(_apply(args))


def _api(args: argparse.Namespace, _extra: list[str] | None = None) -> int:
    import uvicorn

    from app.api.access_log import log_config
    from app.api.limits import MAX_HEADER_BYTES_HARD

    settings = _apply(args)
    warn_if_exposed(settings.host)
    if not _deployment_ready(settings, write=True):
        return 2
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=log_config(),
        # X-Forwarded-* are read by the app itself, from STUDIO_FORWARDED_ALLOW_IPS only
        # (app.api.forwarded); uvicorn's own reading would trust 127.0.0.1 by default.
        proxy_headers=False,
        timeout_graceful_shutdown=5,
        # h11 bounds a request's head (httptools has no such limit); app.api.limits answers
        # 431 in the error shape below this.
        http="h11",
        h11_max_incomplete_event_size=MAX_HEADER_BYTES_HARD,
    )
    return 0


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def warn_if_exposed(host: str, out: Any = None) -> bool:
    """Listening beyond this machine: say what guards it, and where TLS belongs."""
    if host in LOOPBACK or host.startswith("127."):
        return False
    print(
        f"warning: listening on {host}, so anyone who can reach this port can try the token: "
        "the token (at least 16 characters, wrong ones rate-limited) is the only lock. "
        "Plain HTTP shows the token and the session cookie to the network; put a reverse "
        "proxy with TLS in front (docs/security.md) and keep this port off the internet.",
        file=out or sys.stderr,
        flush=True,
    )
    return True


def _worker(args: argparse.Namespace, _extra: list[str] | None = None) -> int:
    settings = _apply(args)
    if not settings.redis_url:
        print("error: set STUDIO_REDIS_URL (or run everything with `serve`)", file=sys.stderr)
        return 2
    queues = [q.strip() for q in args.queues.split(",") if q.strip()]
    from app.planning.routing import is_train_queue, train_queues_for
    from app.store.queues import QUEUES

    unknown = sorted(q for q in set(queues) - set(QUEUES) if not is_train_queue(q))
    if unknown:
        print(
            f"error: unknown queue(s) {', '.join(unknown)}; use {', '.join(QUEUES)} "
            "(or train.cuda.N: runs needing N GPUs)",
            file=sys.stderr,
        )
        return 2
    if not _deployment_ready(settings, write=False):
        return 2
    trains = any(is_train_queue(q) for q in queues)
    if trains:
        from worker.jobs.gpu_locks import host_gpus

        gpus = len(host_gpus())
        if "train" in queues:  # every train queue this host's GPUs can serve
            queues = [q for q in queues if q != "train"] + train_queues_for(gpus)
        default = max(1, gpus * settings.runs_per_gpu)
        print(
            f"train queues: {', '.join(q for q in queues if is_train_queue(q))} "
            f"({gpus} GPU{'s' if gpus != 1 else ''} here)",
            file=sys.stderr,
            flush=True,
        )
    concurrency = args.concurrency or (default if trains else 2)
    from worker.jobs.celery_app import celery_app

    short = "-".join(q for q in queues if not q.startswith("train.cuda."))
    name = f"{short}-{os.getpid()}@{socket.gethostname()}"
    celery_app.worker_main(
        [
            "worker",
            "--queues",
            ",".join(queues),
            "--concurrency",
            str(concurrency),
            "--pool",
            "prefork",
            "--hostname",
            name,
            "--loglevel",
            settings.log_level.upper(),
            "--without-gossip",
            "--without-mingle",
        ]
    )
    return 0


def _deployment_ready(settings: Any, *, write: bool) -> bool:
    """The API side writes the deployment's marker; a worker checks it (app.planning.deployment)."""
    from app.planning.deployment import WrongDataDirError, check, ensure

    try:
        (ensure if write else check)(settings)
    except WrongDataDirError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return False
    return True


def _migrate(args: argparse.Namespace, _extra: list[str] | None = None) -> int:
    from app.store.migrate import upgrade

    settings = _apply(args)
    upgrade(settings.sqlalchemy_url, args.revision)
    if args.revision == "head" and not _deployment_ready(settings, write=True):
        return 2
    print(f"database at {args.revision}: {settings.sqlalchemy_url.split('@')[-1]}")
    return 0


def _healthcheck(args: argparse.Namespace, _extra: list[str] | None = None) -> int:
    """A container's health check: 0 when healthy, 1 with the reason on stderr."""
    settings = _apply(args)
    problem = _api_problem(settings) if args.what == "api" else _worker_problem(settings)
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


def _api_problem(settings: Any) -> str | None:
    import urllib.error
    import urllib.request

    url = f"http://127.0.0.1:{settings.port}/api/v1/health"
    try:
        with urllib.request.urlopen(url, timeout=5):
            return None
    except urllib.error.HTTPError as exc:  # 503: the API is up, the broker is not
        return f"{url} answered {exc.code}: {exc.read()[:200].decode(errors='replace')}"
    except OSError as exc:
        return f"{url}: {exc}"


def _worker_problem(settings: Any) -> str | None:
    """A worker on this host (its container) is in the broker's registry, which its main
    process renews every few seconds (worker.jobs.lifecycle): a hung or dead worker lapses."""
    from app.store.broker import BrokerError, read_workers
    from worker.jobs.identity import worker_id

    if not settings.redis_url:
        return "STUDIO_REDIS_URL is not set"
    host = worker_id().rsplit(":", 1)[0]  # a record's name is `<host>:<pid>`
    try:
        names = [str(record.get("name", "")) for record in read_workers(settings)]
    except BrokerError as exc:
        return f"the broker is unreachable ({exc})"
    if not any(name.rsplit(":", 1)[0] == host for name in names):
        return f"no worker of host {host} in the broker's registry"
    return None


def _common(parser: argparse.ArgumentParser, *, address: bool) -> None:
    parser.add_argument("--data-dir", dest="data_dir", type=Path, help="STUDIO_DATA_DIR")
    if address:
        parser.add_argument("--host", help="STUDIO_HOST (default 127.0.0.1)")
        parser.add_argument("--port", type=int, help="STUDIO_PORT (default 8000)")


def register(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser(
        "serve", help="run everything: API, workers, and (without URLs) SQLite and valkey"
    )
    _common(serve, address=True)
    serve.set_defaults(handler=_serve)

    api = subparsers.add_parser("api", help="run the web server alone")
    _common(api, address=True)
    api.set_defaults(handler=_api)

    worker = subparsers.add_parser("worker", help="run a Celery worker alone")
    worker.add_argument(
        "--queues",
        default="prepare,train,sample",
        help="comma-separated: prepare, train, sample; train means every train queue this "
        "host's GPUs can serve (train, train.cuda.1 .. train.cuda.<GPUs>), or name them",
    )
    worker.add_argument(
        "--concurrency", type=int, help="jobs at once (train: one per GPU, or 1 on a CPU host)"
    )
    _common(worker, address=False)
    worker.set_defaults(handler=_worker)

    migrate = subparsers.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("--revision", default="head")
    _common(migrate, address=False)
    migrate.set_defaults(handler=_migrate)

    health = subparsers.add_parser(
        "healthcheck", help="exit 0 if this host's API (or worker) is up: for containers"
    )
    health.add_argument("what", choices=("api", "worker"))
    _common(health, address=True)
    health.set_defaults(handler=_healthcheck)

    from app.sweep_command import register_sweep

    register_sweep(subparsers)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.commands")
    register(parser.add_subparsers(title="commands", metavar="COMMAND", required=True))
    args = parser.parse_args(argv)
    return int(args.handler(args, []) or 0)


if __name__ == "__main__":
    sys.exit(main())
