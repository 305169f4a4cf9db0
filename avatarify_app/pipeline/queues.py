"""The newest-wins queue that links two live stages."""

from __future__ import annotations

import collections
import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class QueueClosed(Exception):
    """Raised by ``get`` once the queue is closed: the consumer should stop."""


class LatestQueue(Generic[T]):
    """A bounded FIFO where ``put`` never blocks: when full, the oldest item is dropped and counted.

    A slow consumer therefore always gets the freshest items and never builds a backlog. ``close()``
    wakes every waiting consumer with ``QueueClosed``. Safe for any number of producer and consumer
    threads.
    """

    def __init__(self, maxsize: int = 1) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1, got {maxsize}")
        self._items: collections.deque[T] = collections.deque()
        self._maxsize = maxsize
        self._cond = threading.Condition()
        self._closed = False
        self._dropped = 0

    @property
    def dropped(self) -> int:
        """Items dropped so far because the consumer was slower than the producer."""
        return self._dropped

    def put(self, item: T) -> bool:
        """Add ``item``; returns True when an older item had to be dropped. After ``close``, does nothing."""
        with self._cond:
            if self._closed:
                return False
            dropped = len(self._items) >= self._maxsize
            if dropped:
                self._items.popleft()
                self._dropped += 1
            self._items.append(item)
            self._cond.notify()
            return dropped

    def get(self, timeout: float | None = None) -> T | None:
        """The oldest item, waiting up to ``timeout`` seconds (None: forever); None on timeout.

        Raises ``QueueClosed`` once the queue is closed (items still queued are discarded).
        """
        with self._cond:
            if not self._cond.wait_for(lambda: self._items or self._closed, timeout):
                return None
            if self._closed:
                raise QueueClosed
            return self._items.popleft()

    def clear(self) -> None:
        """Forget queued items without counting them as dropped (after a source switch, say)."""
        with self._cond:
            self._items.clear()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._items.clear()
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)
