"""Entry names: which are unsafe or hidden, and a compressed file's name without its suffix."""

from __future__ import annotations

import re

_DRIVE = re.compile(r"^[A-Za-z]:")
# A compressed file's suffix, and what its content is called without it.
_SUFFIXES = {
    ".tgz": ".tar",
    ".taz": ".tar",
    ".tbz": ".tar",
    ".tbz2": ".tar",
    ".txz": ".tar",
    ".tzst": ".tar",
    ".gz": "",
    ".gzip": "",
    ".bz2": "",
    ".xz": "",
    ".zst": "",
    ".zstd": "",
}


def parts(name: str) -> list[str]:
    """The name's components, "/" or "\\" separated, without empty and "." ones."""
    return [p for p in re.split(r"[/\\]", name) if p not in ("", ".")]


def unsafe_reason(name: str) -> str:
    """Why an archive member's name must not be used, or "" (an archive from a stranger
    may name "/etc/passwd" or "../../x": never followed, even though nothing is extracted)."""
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        return "unsafe name: an absolute path"
    if ".." in re.split(r"[/\\]", name):
        return "unsafe name: '..' in the name"
    return ""


def hidden_reason(name: str) -> str:
    """Why an entry is left out as hidden (".git/", ".DS_Store", macOS's "__MACOSX/"), or ""."""
    names = parts(name)
    if any(p.startswith(".") for p in names):
        return "hidden file"
    if names and names[0] == "__MACOSX":
        return "macOS metadata (__MACOSX)"
    return ""


def clean(name: str) -> str:
    """A member's name as reports show it: "/"-separated, no "./" prefix."""
    return "/".join(parts(name))


def without_compression(name: str) -> str:
    """ "data.jsonl.gz" → "data.jsonl", "x.tgz" → "x.tar"; a name without such a suffix is
    kept as it is."""
    lower = name.lower()
    for suffix, replacement in _SUFFIXES.items():
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)] + replacement
    return name
