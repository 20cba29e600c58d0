"""A small least-recently-used cache, shared by the topic modules and the apps."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable

__all__ = ["LRU"]


class LRU(OrderedDict):
    """A dict that keeps only its ``size`` most recently used entries.

    ``get`` and ``get_or`` count as a use; ``put`` and ``get_or`` evict the least
    recently used entries beyond ``size``.
    """

    def __init__(self, size: int):
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        super().__init__()
        self.size = size

    def get(self, key: Hashable, default=None):
        if key in self:
            self.move_to_end(key)
            return self[key]
        return default

    def put(self, key: Hashable, value) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)

    def get_or(self, key: Hashable, compute: Callable[[], object]):
        """The cached value for ``key``, computing and storing it on a miss."""
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = compute()
        self.put(key, value)
        return value
