"""An export as one .zip file, for a download: the folder export.py writes, under one top
folder (`run3-hf/config.json`, …), so unpacking it makes one folder and nothing else.

    export_archive("runs/3/ckpt.pt", "hf", "exports/7.zip", folder="run3-hf")

The archive is written beside its final name and renamed into place when complete, so a
reader never sees half an archive. Weights (.safetensors, .pt) are stored as they are: float
tensors barely compress and deflating gigabytes would only cost time; the rest is deflated.
"""

from __future__ import annotations

import secrets
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

from worker.engine.checkpoints.export import check_format, write_export
from worker.engine.checkpoints.files import load_checkpoint
from worker.engine.errors import ConfigError
from worker.engine.staging import fsync_directory, fsync_file

STORED_SUFFIXES = (".safetensors", ".pt")


@dataclass(frozen=True)
class Archive:
    path: Path
    size_bytes: int
    iter_num: int  # the exported checkpoint's iteration
    files: list[str]  # the names inside, top folder included


def export_archive(ckpt: str | Path, fmt: str, archive: str | Path, *, folder: str) -> Archive:
    """Export the checkpoint file `ckpt` in `fmt` and pack it into the zip file `archive`."""
    check_format(fmt)
    if not folder or "/" in folder or folder in (".", ".."):
        raise ConfigError(f"{folder!r} is not a folder name", field="folder")
    archive = Path(archive)
    checkpoint = load_checkpoint(ckpt, map_location="cpu")
    work = archive.parent / f".{archive.name}.{secrets.token_hex(6)}.partial"
    work.mkdir()
    try:
        written = write_export(checkpoint, fmt, work / folder, shown_as=folder)
        packed = work / "archive.zip"
        names = _pack(packed, work, written)
        fsync_file(packed)
        packed.replace(archive)  # the whole archive, or none
        fsync_directory(archive.parent)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Archive(archive, archive.stat().st_size, int(checkpoint["iter_num"]), names)


def _pack(packed: Path, root: Path, files: list[Path]) -> list[str]:
    names = []
    with zipfile.ZipFile(packed, "w", allowZip64=True) as zf:
        for path in sorted(files):
            name = path.relative_to(root).as_posix()
            stored = path.suffix in STORED_SUFFIXES
            method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            zf.write(path, name, compress_type=method)
            names.append(name)
            path.unlink()  # as it goes: the export and its archive are not both kept whole
    return names
