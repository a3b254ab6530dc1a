"""Stereo pairing by header stamp and the latest-pair hand-off to the worker (ROS-free).

``PairSynchronizer`` is the built-in stand-in for message_filters' ApproximateTimeSynchronizer
(same slop and queue-size meaning) for machines without message_filters: each side keeps its
last ``queue_size`` messages; a new message is paired with the other side's message of the
nearest stamp if they differ by at most ``slop``; a pair consumes both messages and everything
older on both sides.

Stamps that do not move forward are refused: a pair whose (left) stamp is not newer than the
last pair's is dropped and counted in ``stale_dropped`` (duplicates, backwards and repeated zero
stamps). A message more than ``reset_after_ns`` (1 s) older than the last one of its side is a
jump back in time (a bag played in a loop, a camera restart): the pairing resets (queues and
the last stamps cleared, ``resets`` counted, ``on_reset(previous_ns, new_ns)`` called once per
jump) and the stream continues from the new stamp.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Any, Callable, Deque, Generic, TypeVar

T = TypeVar("T")


RESET_AFTER_NS = 1_000_000_000


class PairSynchronizer:
    def __init__(self, slop_ns: int, queue_size: int, callback: Callable[[Any, Any], None],
                 reset_after_ns: int = RESET_AFTER_NS,
                 on_reset: Callable[[int, int], None] | None = None) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be >= 1")
        self.slop_ns = int(slop_ns)
        self.callback = callback
        self.reset_after_ns = int(reset_after_ns)
        self.on_reset = on_reset
        self.queues: tuple[Deque[tuple[int, Any]], Deque[tuple[int, Any]]] = (
            deque(maxlen=queue_size), deque(maxlen=queue_size))
        self.unpaired_dropped = 0  # messages pushed out of a full queue without a partner
        self.stale_dropped = 0  # pairs not newer than the last pair (duplicate/backward stamps)
        self.resets = 0  # jumps back in time by more than reset_after_ns
        self.last_pair_ns: int | None = None  # left stamp of the last pair handed on
        self._last_ns: list[int | None] = [None, None]  # newest stamp seen per side

    def reset(self) -> None:
        """Forget the queued messages and the last stamps (the queued ones count as unpaired)."""
        self.unpaired_dropped += len(self.queues[0]) + len(self.queues[1])
        for q in self.queues:
            q.clear()
        self.last_pair_ns = None
        self._last_ns = [None, None]

    def add(self, side: int, stamp_ns: int, msg: Any) -> bool:
        """Add a message from side 0 (left) or 1 (right); returns True when it completed a pair
        that was handed to the callback (False when unpaired, or paired but stale)."""
        last = self._last_ns[side]
        if last is not None and stamp_ns < last - self.reset_after_ns:
            self.reset()
            self.resets += 1
            if self.on_reset is not None:
                self.on_reset(last, stamp_ns)
        if last is None or stamp_ns > last:
            self._last_ns[side] = stamp_ns
        mine, other = self.queues[side], self.queues[1 - side]
        if other:
            best = min(range(len(other)), key=lambda i: abs(other[i][0] - stamp_ns))
            if abs(other[best][0] - stamp_ns) <= self.slop_ns:
                other_ns, partner = other[best]
                for _ in range(best + 1):
                    other.popleft()
                self.unpaired_dropped += best
                # everything on my side is older than this message: it can no longer pair
                self.unpaired_dropped += sum(1 for s, _ in mine if s <= stamp_ns)
                while mine and mine[0][0] <= stamp_ns:
                    mine.popleft()
                left_ns = stamp_ns if side == 0 else other_ns
                if self.last_pair_ns is not None and left_ns <= self.last_pair_ns:
                    self.stale_dropped += 1
                    return False
                self.last_pair_ns = left_ns
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
