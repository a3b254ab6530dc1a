"""Stereo pairing by header stamp and the latest-pair hand-off to the worker (ROS-free).

``PairSynchronizer`` is the built-in stand-in for message_filters' ApproximateTimeSynchronizer
(same slop and queue-size meaning) for machines without message_filters: each side keeps its
last ``queue_size`` messages; a new message is paired with the other side's message of the
nearest stamp if they differ by at most ``slop``; a pair consumes both messages and everything
older on both sides.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Any, Callable, Deque, Generic, TypeVar

T = TypeVar("T")


class PairSynchronizer:
    def __init__(self, slop_ns: int, queue_size: int, callback: Callable[[Any, Any], None]) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be >= 1")
        self.slop_ns = int(slop_ns)
        self.callback = callback
        self.queues: tuple[Deque[tuple[int, Any]], Deque[tuple[int, Any]]] = (
            deque(maxlen=queue_size), deque(maxlen=queue_size))
        self.unpaired_dropped = 0  # messages pushed out of a full queue without a partner

    def add(self, side: int, stamp_ns: int, msg: Any) -> bool:
        """Add a message from side 0 (left) or 1 (right); returns True when it completed a pair."""
        mine, other = self.queues[side], self.queues[1 - side]
        if other:
            best = min(range(len(other)), key=lambda i: abs(other[i][0] - stamp_ns))
            if abs(other[best][0] - stamp_ns) <= self.slop_ns:
                partner = other[best][1]
                for _ in range(best + 1):
                    other.popleft()
                self.unpaired_dropped += best
                # everything on my side is older than this message: it can no longer pair
                self.unpaired_dropped += sum(1 for s, _ in mine if s <= stamp_ns)
                while mine and mine[0][0] <= stamp_ns:
                    mine.popleft()
                left, right = (msg, partner) if side == 0 else (partner, msg)
                self.callback(left, right)
                return True
        if len(mine) == mine.maxlen:
            self.unpaired_dropped += 1
        mine.append((stamp_ns, msg))
        return False


class LatestSlot(Generic[T]):
    """A one-item mailbox: ``put`` replaces what the worker has not taken yet (and says so)."""

    def __init__(self) -> None:
        self._item: T | None = None
        self._cond = threading.Condition()
        self._closed = False

    def put(self, item: T) -> bool:
        """Store ``item``; returns True when it superseded an item nobody took (a dropped pair)."""
        with self._cond:
            dropped = self._item is not None
            self._item = item
            self._cond.notify()
            return dropped

    def take(self, timeout: float | None = None) -> T | None:
        """Wait for the next item; None on timeout or after ``close``."""
        with self._cond:
            self._cond.wait_for(lambda: self._item is not None or self._closed, timeout)
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
