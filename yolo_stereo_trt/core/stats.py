"""Counters, rates, latency windows and per-kind log throttling for the node's diagnostics."""
from __future__ import annotations

import threading
import time
from collections import Counter, deque
from typing import Deque

import numpy as np


class RateMeter:
    """Events per second over a sliding window."""

    def __init__(self, window_s: float = 5.0) -> None:
        self.window_s = window_s
        self.times: Deque[float] = deque()

    def tick(self, now: float | None = None) -> None:
        self.times.append(time.monotonic() if now is None else now)

    def rate(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        while self.times and now - self.times[0] > self.window_s:
            self.times.popleft()
        return len(self.times) / self.window_s


class NodeStats:
    """Thread-safe: the executor thread counts inputs, the worker counts results."""

    RATES = ("input_left", "input_right", "paired", "processed")
    # in every snapshot from the start (0 until they happen), so a monitor or a test that
    # reads count_dropped_pairs finds it before the first drop
    COUNTS = RATES + ("failed_pairs", "dropped_pairs", "pairing_resets", "detections_left",
                      "detections_right", "cones", "masked", "rejected_ground", "rejected_size",
                      "stereo_pairs", "stereo_ambiguous", "stereo_implausible", "stereo_searched",
                      "stereo_found_by_search", "stereo_duplicate", "stereo_border_cut",
                      "parameters_refused")

    def __init__(self, latency_window: int = 100, log_every_s: float = 5.0) -> None:
        self._lock = threading.Lock()
        self.errors: Counter[str] = Counter()
        self.counts: Counter[str] = Counter({name: 0 for name in self.COUNTS})
        self.rates = {name: RateMeter() for name in self.RATES}
        self.latency: dict[str, Deque[float]] = {}
        self.measured: dict[str, Deque[float]] = {}
        self.latency_window = latency_window
        self.log_every_s = log_every_s
        self._last_log: dict[str, float] = {}

    def tick(self, rate: str) -> None:
        with self._lock:
            self.rates[rate].tick()
            self.counts[rate] += 1

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counts[name] += n

    def error(self, kind: str) -> bool:
        """Count an error of ``kind``; True when it should be logged (once per kind per period)."""
        now = time.monotonic()
        with self._lock:
            self.errors[kind] += 1
            if now - self._last_log.get(kind, -1e9) >= self.log_every_s:
                self._last_log[kind] = now
                return True
            return False

    def totals(self) -> tuple[dict[str, int], dict[str, int]]:
        """Copies of the cumulative counters and error counts (consistent with each other)."""
        with self._lock:
            return dict(self.counts), dict(self.errors)

    def add_latency(self, timings_ms: dict[str, float]) -> None:
        with self._lock:
            for stage, ms in timings_ms.items():
                self.latency.setdefault(stage, deque(maxlen=self.latency_window)).append(ms)

    def add_measurement(self, name: str, value: float) -> None:
        """A per-pair measurement (the left frame's JPEG blockiness): the snapshot gives its
        median over the last ``latency_window`` pairs as ``<name>_p50``."""
        with self._lock:
            self.measured.setdefault(name, deque(maxlen=self.latency_window)).append(value)

    def snapshot(self) -> dict[str, float | int]:
        """Flat key/values: rates (Hz), counters, errors, median latency per stage (ms), median
        per-pair measurements."""
        with self._lock:
            out: dict[str, float | int] = {f"rate_{k}_hz": round(m.rate(), 2) for k, m in self.rates.items()}
            out.update({f"count_{k}": v for k, v in sorted(self.counts.items())})
            out.update({f"errors_{k}": v for k, v in sorted(self.errors.items())})
            out["errors_total"] = sum(self.errors.values())
            for stage, values in self.latency.items():
                if values:
                    out[f"latency_{stage}_ms_p50"] = round(float(np.median(values)), 3)
                    out[f"latency_{stage}_ms_max"] = round(float(max(values)), 3)
            for name, values in self.measured.items():
                if values:
                    out[f"{name}_p50"] = round(float(np.median(values)), 3)
            return out
