"""A directory as a source: its files, walked recursively and read in sorted order.

The listing is made first (it also gives the progress bar its total) and sorted by relative
path, component by component, so the same folder always gives the same corpus. Left out,
and listed as skipped: hidden files and folders (a name starting with "."; a hidden folder is
one entry, not one per file: .git can hold thousands), symlinks whose target leaves the
directory or is a folder (its files are read where they are, if inside), broken symlinks,
FIFOs, sockets and devices (reading a FIFO would block), and a Hugging Face
`save_to_disk` folder's metadata (dataset_info.json and state.json beside its .arrow files,
dataset_dict.json above them).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from worker.engine.corpus.guard import too_many_members
from worker.engine.corpus.options import ArchiveLimits
from worker.engine.errors import DataError

_HF_DATASET = ("dataset_info.json", "state.json")
_HF_DATASET_DICT = "dataset_dict.json"
HF_METADATA = "Hugging Face datasets metadata"


@dataclass
class Listing:
    files: list[tuple[str, Path, int]] = field(default_factory=list)  # name, path, size
    skipped: list[tuple[str, str]] = field(default_factory=list)  # name, reason
    bytes: int = 0


def list_directory(root: Path, label: str, limits: ArchiveLimits) -> Listing:
    listing = Listing()
    top = root.resolve()
    pending: list[tuple[Path, tuple[str, ...]]] = [(root, ())]
    found: list[tuple[tuple[str, ...], Path, int]] = []
    while pending:
        directory, parts = pending.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            if not parts:
                raise DataError(
                    f"cannot read the folder {label}: {exc.strerror}", field="file"
                ) from exc
            listing.skipped.append(("/".join(parts), f"cannot read: {exc.strerror}"))
            continue
        names = {e.name for e in entries}
        metadata = _hf_metadata(names)
        for entry in entries:
            rel = (*parts, entry.name)
            name = "/".join(rel)
            if entry.name in metadata:
                listing.skipped.append((name, HF_METADATA))
                continue
            if entry.name.startswith("."):
                hidden = "hidden folder" if entry.is_dir(follow_symlinks=False) else "hidden file"
                listing.skipped.append((name, hidden))
                continue
            reason, size = _classify(entry, top)
            if reason == "folder":
                pending.append((Path(entry.path), rel))
            elif reason:
                listing.skipped.append((name, reason))
            else:
                found.append((rel, Path(entry.path), size))
                if len(found) > limits.max_members:
                    raise too_many_members(label, limits, folder=True)
    found.sort(key=lambda item: item[0])
    listing.skipped.sort()
    listing.files = [("/".join(rel), path, size) for rel, path, size in found]
    listing.bytes = sum(size for _, _, size in listing.files)
    return listing


def _classify(entry: os.DirEntry[str], top: Path) -> tuple[str, int]:
    """("", size) for a file to read, ("folder", 0) for a folder to walk, else (why not, 0)."""
    try:
        if entry.is_symlink():
            target = Path(entry.path).resolve()
            if not target.is_relative_to(top):
                return "symlink leaving the directory", 0
            if not target.exists():
                return "broken symlink", 0
            if target.is_dir():
                return "symlink to a folder (its files are read where they are)", 0
        elif entry.is_dir(follow_symlinks=False):
            return "folder", 0
        info = entry.stat()  # follows a symlink that stays inside
    except OSError as exc:
        return f"cannot read: {exc.strerror}", 0
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file (a FIFO, socket or device)", 0
    return "", info.st_size


def _hf_metadata(names: set[str]) -> set[str]:
    """The files of a `datasets.save_to_disk` folder that describe it (not data)."""
    found: set[str] = set()
    if all(n in names for n in _HF_DATASET) and any(n.endswith(".arrow") for n in names):
        found.update(_HF_DATASET)
    if _HF_DATASET_DICT in names:
        found.add(_HF_DATASET_DICT)
    return found
