"""The service commands plug into `nanogpt-studio` through register(subparsers)."""

import argparse
import subprocess
import sys

from app.commands import register


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser()
    register(root.add_subparsers())
    return root


def test_commands_and_flags():
    args = parser().parse_args(["serve", "--host", "127.0.0.2", "--port", "9", "--data-dir", "x"])
    assert (args.host, args.port, str(args.data_dir)) == ("127.0.0.2", 9, "x")
    assert parser().parse_args(["worker", "--queues", "train"]).queues == "train"
    assert parser().parse_args(["migrate"]).revision == "head"
    assert callable(parser().parse_args(["api"]).handler)


def test_migrate_creates_the_database(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "STUDIO_DATA_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "app.commands", "migrate"], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "studio.db").is_file()


def test_worker_refuses_unknown_queues(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "STUDIO_REDIS_URL": "redis://127.0.0.1:1/0"}
    out = subprocess.run(
        [sys.executable, "-m", "app.commands", "worker", "--queues", "gpu"],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 2 and "unknown queue" in out.stderr
