"""Writes a directory's files somewhere hidden first, and shows them only when all are done.

On any error (or Ctrl-C) the hidden directory goes, and so do the parents it had to create,
so a failed prepare leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

from worker.engine.errors import ConfigError


@contextlib.contextmanager
def staged_directory(
    final_dir: str | os.PathLike[str], *, last: Sequence[str] = ()
) -> Iterator[Path]:
    """Yields an empty temporary directory next to final_dir; on success its files become
    final_dir's. Files named in `last` are moved in last (meta.json: its presence means the
    data is complete), and an existing final_dir loses them first.
    """
    final = Path(final_dir).absolute()
    check_target(final)
    created = _make_parents(final.parent)
    # not tempfile.mkdtemp: its mode 0700 would stay with the published directory
    staging = final.parent / f".{final.name}.{secrets.token_hex(6)}.partial"
    staging.mkdir()
    try:
        yield staging
        _publish(staging, final, last)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for directory in reversed(created):
            with contextlib.suppress(OSError):  # someone else put something there meanwhile
                directory.rmdir()
        raise


def check_target(final_dir: str | os.PathLike[str]) -> None:
    """ConfigError (field="out_dir") if final_dir is taken by something not a directory."""
    if Path(final_dir).exists() and not Path(final_dir).is_dir():
        raise ConfigError(f"{final_dir} exists and is not a directory", field="out_dir")


def fsync_file(path: Path) -> None:
    with path.open("rb") as file:
        os.fsync(file.fileno())


def _make_parents(directory: Path) -> list[Path]:
    """Creates the missing directories on the way to `directory`; returns them, top first."""
    missing = [d for d in (directory, *directory.parents) if not d.exists()]
    missing.reverse()
    made: list[Path] = []
    for parent in missing:
        try:
            parent.mkdir()
        except FileExistsError:
            continue
        made.append(parent)
    return made


def _publish(staging: Path, final: Path, last: Sequence[str]) -> None:
    for path in staging.iterdir():
        fsync_file(path)
    try:
        staging.rename(final)  # the usual case: no such directory yet, one atomic step
    except OSError:
        if not final.is_dir():
            raise
        _move_into_existing(staging, final, last)
    fsync_directory(final.parent)


def _move_into_existing(staging: Path, final: Path, last: Sequence[str]) -> None:
    for name in last:
        (final / name).unlink(missing_ok=True)
    names = sorted(p.name for p in staging.iterdir())
    for name in [n for n in names if n not in last] + [n for n in last if n in names]:
        (staging / name).replace(final / name)
    staging.rmdir()
    fsync_directory(final)


def fsync_directory(directory: Path) -> None:
    """Make renames into directory durable: they are on disk once its entry is."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
