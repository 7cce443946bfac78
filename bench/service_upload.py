"""Upload speed over loopback and the API process's memory while it streams.

    python bench/service_upload.py [--mb 1024] [--multipart]

Makes a text file of --mb MiB (Tiny Shakespeare repeated), uploads it to a running API
(its own SQLite + embedded valkey), and prints MB/s and the API's resident-memory growth
(peak RSS during the upload minus RSS before). Large files are described by a job, so this
measures the upload itself: receive, parse, write, sniff, store."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
from contextlib import suppress
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._stack import ROOT, TOKEN, machine, rss_bytes, service

SHAKESPEARE = ROOT / "app" / "sample_data" / "tinyshakespeare.txt"
CHUNK = 1 << 20


def make_file(path: Path, mib: int) -> None:
    block = SHAKESPEARE.read_bytes()
    with path.open("wb") as f:
        written = 0
        while written < mib * CHUNK:
            f.write(block)
            written += len(block)
        f.truncate(mib * CHUNK)


def curl_upload(url: str, path: Path, multipart: bool) -> tuple[int, float]:
    """Upload with curl, streaming from disk, as a script would; (HTTP status, seconds)."""
    command = [
        "curl",
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{time_total}",
        "-H",
        f"Authorization: Bearer {TOKEN}",
    ]
    if multipart:
        command += ["-F", f"file=@{path};type=text/plain", f"{url}/datasets"]
    else:
        command += ["-X", "POST", "-T", str(path), f"{url}/datasets?name=big.txt"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout.split()
    return int(out[0]), float(out[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=256, help="file size in MiB (1024 = 1 GiB)")
    parser.add_argument("--multipart", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, service(workers=False) as svc:
        path = Path(tmp) / "big.txt"
        make_file(path, args.mb)
        api = svc.procs["api"].pid
        before = rss_bytes(api)
        peak = [before]
        done = threading.Event()

        def watch() -> None:
            while not done.wait(0.05):
                with suppress(KeyError, OSError):
                    peak[0] = max(peak[0], rss_bytes(api))

        threading.Thread(target=watch, daemon=True).start()
        size = path.stat().st_size
        status, seconds = curl_upload(svc.url, path, args.multipart)
        done.set()
        assert status == 201, status
        kind = "multipart" if args.multipart else "raw body"
        print(f"machine: {machine()}")
        print(
            f"upload {size / 2**20:.0f} MiB ({kind}): {seconds:.2f} s, "
            f"{size / 1e6 / seconds:.0f} MB/s; API RSS before {before / 2**20:.0f} MiB, "
            f"growth {(peak[0] - before) / 2**20:.1f} MiB"
        )


if __name__ == "__main__":
    main()
