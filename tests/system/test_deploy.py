"""The deployment files against the code. No container engine runs here, so: every compose
service's command and health check is a real `nanogpt-studio` command, every variable a real
setting, every queue has a worker, the GPU is reserved (and the CPU override takes it away),
every file the Dockerfile copies exists, the GPU workers get shared memory for NCCL and one
has two GPUs for DDP runs, the worker image carries a C compiler for torch.compile, one CUDA
index is named everywhere, the build backend reads pyproject's license field, and
docs/deploy.md's commands are real and match compose's workers. The topology
itself runs as plain processes in the `stack` fixture (studio_stack.Stack spawns compose's
commands; test_service_flow drives a run through it on SQLite and on PostgreSQL + Redis);
here its health checks are asked about it."""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

from compose_file import REPO, compose
from studio_stack import free_port

from app.planning.routing import train_queues_for
from app.store.queues import QUEUES
from app.store.settings import Settings
from worker.cli import build_parser

SETTINGS = {f"STUDIO_{name.upper()}" for name in Settings.model_fields}
# What compose passes that is not a studio setting: read by huggingface_hub.
OTHER_ENV = {"HF_HOME"}
DOCKERFILE = (REPO / "Dockerfile").read_text(encoding="utf-8")
DEPLOY_DOC = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")


def our_services() -> dict[str, dict]:
    """Services that run the studio's image (not postgres, not redis)."""
    return {
        name: spec
        for name, spec in compose()["services"].items()
        if str(spec.get("image", "")).startswith("nanogpt-studio")
    }


def assert_real_command(argv: list[str]) -> argparse.Namespace:
    args, extra = build_parser().parse_known_args(argv)
    assert extra == [] and hasattr(args, "handler"), argv
    return args


def test_every_service_runs_a_real_command_and_every_queue_has_a_worker() -> None:
    services = our_services()
    assert {"migrate", "api", "worker-train", "worker-prepare-sample"} <= set(services)
    consumed: set[str] = set()
    for name, spec in services.items():
        args = assert_real_command(spec["command"])
        if spec["command"][0] == "worker":
            queues = set(args.queues.split(","))
            assert queues <= set(QUEUES), name
            consumed |= queues
        check = spec.get("healthcheck", {}).get("test")
        if check:
            assert check[:2] == ["CMD", "nanogpt-studio"], (name, check)
            assert_real_command(check[2:])
    assert consumed == set(QUEUES)
    assert services["worker-train"]["command"][:3] == ["worker", "--queues", "train"]
    assert services["worker-train"]["stop_grace_period"]  # time for the SIGTERM checkpoint


def test_every_variable_is_a_real_setting_and_secrets_come_from_env() -> None:
    text = (REPO / "docker-compose.yml").read_text(encoding="utf-8")
    for name, spec in our_services().items():
        assert spec["env_file"] == ".env", name
        environment = spec.get("environment", {})
        unknown = {k for k in environment if k not in SETTINGS | OTHER_ENV}
        assert unknown == set(), (name, unknown)
        assert environment["HF_HOME"].startswith(environment["STUDIO_DATA_DIR"] + "/")
        if name != "migrate":  # it only talks to the database
            assert f"studio-data:{environment['STUDIO_DATA_DIR']}" in spec["volumes"]
    referenced = set(re.findall(r"\$\{(\w+)", text))
    assert {v for v in referenced if v.startswith("STUDIO_")} <= SETTINGS
    # The others are the deployment's own knobs, each explained in docs/deploy.md.
    assert [v for v in referenced if not v.startswith("STUDIO_") and v not in DEPLOY_DOC] == []
    for secret in ("STUDIO_TOKEN", "POSTGRES_PASSWORD", "REDIS_PASSWORD"):
        assert "${" + secret + ":?" in text  # compose refuses to start without it
    assert re.findall(r"PASSWORD: (?!\$\{)", text) == []  # no password written down


def test_the_train_worker_gets_a_gpu_and_the_cpu_override_takes_it_away() -> None:
    train = compose()["services"]["worker-train"]
    (device,) = train["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert "/cu" in train["build"]["args"]["TORCH_INDEX"]  # the CUDA build by default
    cpu = compose("docker-compose.cpu.yml")["services"]
    workers = {n for n, spec in our_services().items() if spec["build"]["target"] == "worker"}
    assert set(cpu) == workers  # every worker image gets CPU torch, none is left with CUDA
    assert cpu["worker-train"]["deploy"]["!tag"] == "!reset"
    for spec in cpu.values():
        assert spec["build"]["args"]["TORCH_INDEX"].endswith("/whl/cpu")
    redis = " ".join(compose()["services"]["redis"]["command"])
    assert "--appendonly yes" in redis and "--maxmemory-policy noeviction" in redis


def _gpu_ids(spec: dict) -> list[str]:
    devices = spec.get("deploy", {}).get("resources", {}).get("reservations", {})
    return [i for d in devices.get("devices", []) for i in d.get("device_ids", [])]


def test_gpu_workers_have_shared_memory_and_one_has_two_gpus_for_ddp() -> None:
    gpu_workers = {n: spec for n, spec in our_services().items() if _gpu_ids(spec)}
    assert "worker-train" in gpu_workers
    for name, spec in gpu_workers.items():  # NCCL's buffers live in /dev/shm (64 MB default)
        assert spec.get("shm_size") or spec.get("ipc") == "host", name
    (ddp,) = [spec for spec in gpu_workers.values() if len(_gpu_ids(spec)) == 2]
    queues = assert_real_command(ddp["command"]).queues.split(",")
    assert queues == ["train"]  # the worker counts its GPUs: train, train.cuda.1, .2
    assert "train.cuda.2" in train_queues_for(len(_gpu_ids(ddp)))
    assert ddp["profiles"] == ["ddp"] and ddp["stop_grace_period"]


def _docker_runs() -> dict[int, list[str]]:
    """docs/deploy.md's `docker run` commands for a second host, by their GPU count."""
    found = {}
    for block in re.findall(r"^ *(docker run .*?)\n *```", DEPLOY_DOC, re.M | re.S):
        argv = shlex.split(block.replace("\\\n", " "))
        gpus = argv[argv.index("--gpus") + 1].strip('"').removeprefix("device=")
        found[len(gpus.split(","))] = argv
    return found


def test_the_second_host_s_commands_match_the_compose_workers() -> None:
    runs = _docker_runs()
    assert set(runs) == {1, 2}
    services = compose()["services"]
    for count, name in ((1, "worker-train"), (2, "worker-train-ddp")):
        argv, spec = runs[count], services[name]
        assert len(_gpu_ids(spec)) == count
        assert argv[argv.index("nanogpt-studio-worker") + 1 :] == spec["command"], name
        assert argv[argv.index("--shm-size") + 1] == spec["shm_size"], name
        assert argv[argv.index("--stop-timeout") + 1] + "s" == spec["stop_grace_period"], name


def test_the_worker_image_has_a_compiler_and_one_cuda_index_is_named() -> None:
    worker_stage = DOCKERFILE.split(" AS worker\n", 1)[1].split("\nFROM ", 1)[0]
    installs = worker_stage.replace("\\\n", " ")
    assert re.search(r"apt-get install [^\n]*\b(build-essential|gcc)\b", installs)
    text = (REPO / "docker-compose.yml").read_text(encoding="utf-8")
    (default,) = re.findall(r"\$\{TORCH_INDEX:-(\S+?)\}", text)
    named = set(re.findall(r"https://download\.pytorch\.org/whl/cu\d+", DOCKERFILE + DEPLOY_DOC))
    assert named == {default}  # the comments, the docs and the compose default agree


def test_the_build_backend_reads_the_license_field() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    if isinstance(pyproject["project"]["license"], str):  # PEP 639: setuptools 77 or newer
        (requirement,) = [
            r for r in pyproject["build-system"]["requires"] if r.startswith("setuptools")
        ]
        lowest = re.fullmatch(r"setuptools>=(\d+)(\.\d+)*", requirement)
        assert lowest and int(lowest.group(1)) >= 77, requirement


def dockerfile_instructions() -> list[tuple[str, str]]:
    joined = DOCKERFILE.replace("\\\n", " ")
    lines = [line.strip() for line in joined.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_every_file_the_dockerfile_copies_exists_and_targets_match_compose() -> None:
    instructions = dockerfile_instructions()
    stages = set(re.findall(r"^FROM \S+ AS (\S+)", DOCKERFILE, re.M))
    assert {"api", "worker"} <= stages
    for name, spec in our_services().items():
        assert spec["build"]["target"] in stages, name
    copied = []
    for keyword, rest in instructions:
        if keyword == "COPY" and not rest.startswith("--from"):
            *sources, _dest = rest.split()
            copied += sources
    missing = [source for source in copied if not (REPO / source).exists()]
    assert copied and missing == []
    script = next(iter(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]))
    for keyword, rest in instructions:
        if keyword in ("CMD", "ENTRYPOINT") or (keyword == "HEALTHCHECK" and "CMD [" in rest):
            argv = json.loads(rest[rest.index("[") :])
            if argv[0] == script:
                argv = argv[1:]
            if argv:
                assert_real_command(argv)
    installs = [
        rest for keyword, rest in instructions if keyword == "RUN" and "pip install" in rest
    ]
    assert installs and all("-c constraints.txt" in run for run in installs)
    torch_installs = [run for run in installs if re.search(r"\btorch\b", run)]
    assert torch_installs and all("--index-url" in run for run in torch_installs)
    assert "--extra-index-url" not in DOCKERFILE  # PyPI's default torch must not slip in


def test_the_deploy_doc_commands_and_variables_are_real() -> None:
    assert "\n## Adding a GPU host\n" in DEPLOY_DOC
    service_commands = r"nanogpt-studio ((?:worker|api|migrate|serve|healthcheck)\b[^`\n]*)"
    commands = re.findall(service_commands, DEPLOY_DOC)
    assert len(commands) >= 4
    for command in commands:
        assert_real_command(shlex.split(command.rstrip("\\ ")))
    named = set(re.findall(r"-e (STUDIO_\w+)=", DEPLOY_DOC)) | set(
        re.findall(r"\b(STUDIO_[A-Z_]+)\b", DEPLOY_DOC)
    )
    assert named and named <= SETTINGS


def healthcheck(what: str, env: dict[str, str], *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.commands", "healthcheck", what, *flags],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_health_checks_see_the_running_topology(stack, tmp_path: Path) -> None:
    assert healthcheck("worker", stack.env).returncode == 0
    assert healthcheck("api", stack.env, "--port", str(stack.port)).returncode == 0
    closed = str(free_port())
    down = healthcheck("api", stack.env, "--port", closed)
    assert down.returncode == 1 and f"127.0.0.1:{closed}" in down.stderr
    away = healthcheck("worker", {**stack.env, "STUDIO_REDIS_URL": f"redis://127.0.0.1:{closed}/0"})
    assert away.returncode == 1 and "broker is unreachable" in away.stderr


def test_a_host_without_a_worker_is_unhealthy(local_env) -> None:
    """local_env's broker has no workers."""
    done = healthcheck("worker", local_env)
    assert done.returncode == 1 and "no worker of host" in done.stderr
