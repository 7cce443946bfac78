"""nanoGPT's meta.pkl, read without trusting it.

pickle.load runs whatever the file says: a pickle can name any importable callable (say
os.system) and call it. A meta.pkl is a plain dict of str/int, and building plain dicts,
lists, strings and numbers needs no named callable at all. So this unpickler refuses every
name except the four builtins a plain pickle may mention (dict, list, str, int), and persistent
ids; whatever else the file holds is refused before anything in it can run.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

from worker.engine.errors import DataError

MAX_META_BYTES = 64 << 20  # a char vocabulary is a few KB; this only stops absurd files
_ALLOWED_BUILTINS = {"dict": dict, "list": list, "str": str, "int": int}


class _PlainDataUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module in ("builtins", "__builtin__") and name in _ALLOWED_BUILTINS:
            return _ALLOWED_BUILTINS[name]
        raise pickle.UnpicklingError(f"refused to load {module}.{name}: not plain data")

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refused a persistent id: not plain data")


def load_plain_pickle(data: bytes) -> Any:
    """Unpickle data that may only hold plain containers, strings and numbers."""
    return _PlainDataUnpickler(io.BytesIO(data)).load()


def read_meta_pkl(path: str | Path) -> dict[str, Any]:
    """nanoGPT's {'vocab_size', 'itos', 'stoi'}, checked; DataError (field meta) otherwise."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = f.read(MAX_META_BYTES + 1)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}", field="meta") from exc
    if len(data) > MAX_META_BYTES:
        raise DataError(
            f"{path.name} is over {MAX_META_BYTES >> 20} MB: not a meta.pkl", field="meta"
        )
    try:
        meta = load_plain_pickle(data)
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError) as exc:
        raise DataError(f"{path.name} is not a plain-data meta.pkl: {exc}", field="meta") from exc
    return _check_meta(meta, path.name)


def _check_meta(meta: Any, name: str) -> dict[str, Any]:
    def bad(why: str) -> DataError:
        return DataError(f"{name} is not nanoGPT's char vocabulary: {why}", field="meta")

    if not isinstance(meta, dict) or "itos" not in meta:
        raise bad("expected a dict with 'vocab_size', 'itos' and 'stoi'")
    itos, stoi, size = meta["itos"], meta.get("stoi"), meta.get("vocab_size")
    if not isinstance(itos, dict) or not all(
        type(i) is int and isinstance(c, str) and len(c) == 1 for i, c in itos.items()
    ):
        raise bad("'itos' must map ids (int) to single characters")
    if sorted(itos) != list(range(len(itos))):
        raise bad("'itos' ids must be 0..n-1")
    if size is not None and size != len(itos):
        raise bad(f"vocab_size {size} but 'itos' has {len(itos)} entries")
    if stoi is not None and stoi != {c: i for i, c in itos.items()}:
        raise bad("'stoi' is not the inverse of 'itos'")
    return meta
