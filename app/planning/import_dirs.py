"""Which server paths a user may import from: only what lies under STUDIO_IMPORT_DIRS, judged
after symlinks and `..` are resolved (a link inside an import directory that leads out of it
is outside). None are allowed until the operator names some."""

from __future__ import annotations

import os
from pathlib import Path

from app.store.errors import ForbiddenError, InvalidError
from app.store.settings import Settings

FIELD = "path"


def resolve_import_path(settings: Settings, raw: str) -> Path:
    """The real path of `raw` (absolute, or relative to the first import directory).

    403 `import_disabled` when no import directory is set, 403 `outside_import_dirs` for a
    path that resolves outside them, 422 `no_such_path` for one that does not exist (said
    only of paths inside, so nothing is learnt about the rest of the disk)."""
    roots = settings.import_roots
    if not roots:
        raise ForbiddenError(
            "server-side import is off: the operator turns it on by naming the directories "
            "it may read in STUDIO_IMPORT_DIRS (e.g. STUDIO_IMPORT_DIRS=/srv/corpora), on the "
            "API and the workers alike",
            field=FIELD,
            code="import_disabled",
        )
    if "\0" in raw or not raw.strip():
        raise InvalidError("path must name a file or directory", field=FIELD)
    candidate = Path(raw)  # no "~": a request names server paths, not a user's home
    if not candidate.is_absolute():
        candidate = roots[0] / candidate
    real = Path(os.path.realpath(candidate))
    if not any(real == root or real.is_relative_to(root) for root in roots):
        allowed = ", ".join(str(root) for root in roots)
        raise ForbiddenError(
            f"{raw} is outside the import directories ({allowed}); links and '..' are "
            "followed before this is judged",
            field=FIELD,
            code="outside_import_dirs",
        )
    if not real.exists():
        raise InvalidError(f"no such file or directory: {raw}", field=FIELD, code="no_such_path")
    if not (real.is_file() or real.is_dir()):
        raise InvalidError(f"{raw} is not a regular file or a directory", field=FIELD)
    return real
