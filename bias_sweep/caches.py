"""Where upstream work is kept: the cache folder on disk, and memos within a process.

The cache folder holds what sweeps share (pre-trained tiny models, downloads, tokenizer-ready
datasets): the `cache_dir` key, else $BIAS_SWEEP_CACHE, else ~/.cache/bias-sweep. A `Memo` keeps
the last few results of a costly step for the trials that one worker process runs in turn
(pools, eval splits, eval sets, tables read, tokenized texts); `clear_memos` empties them all.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Generic, TypeVar

V = TypeVar("V")
_MEMOS: list[Memo] = []


def cache_root(configured: str | None = None) -> Path:
    """The cache folder: `configured` (a config's `cache_dir`), else $BIAS_SWEEP_CACHE, else
    ~/.cache/bias-sweep."""
    root = configured or os.environ.get("BIAS_SWEEP_CACHE") or "~/.cache/bias-sweep"
    return Path(root).expanduser().resolve()


class Memo(Generic[V]):
    """The `size` most recently used results of one step, by key."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, V] = OrderedDict()
        _MEMOS.append(self)

    def get_or_make(self, key: Hashable, make: Callable[[], V]) -> V:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = make()
        self._items[key] = value
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


def clear_memos() -> None:
    """Forget every memo of this process (tests that measure a cold start)."""
    for memo in _MEMOS:
        memo.clear()
