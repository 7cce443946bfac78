"""Loaded checkpoints kept in memory by the sample worker, keyed by file identity, so the
next sample from the same checkpoint starts at once and a rewritten one is reloaded."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any


class SamplerCache:
    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, int, int], Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: Path) -> Any:
        from worker.engine.sampling.sample import load_sampler

        stat = path.stat()
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            for old in [k for k in self._items if k[0] == key[0]]:
                del self._items[old]  # an older version of the same file
        sampler = load_sampler(path)
        with self._lock:
            self._items[key] = sampler
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return sampler

    def __len__(self) -> int:
        return len(self._items)
