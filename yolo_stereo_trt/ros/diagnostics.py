"""The health of the node over a sliding window (one diagnostics period): pure logic, no rclpy.

Levels (diagnostic_msgs/DiagnosticStatus): ERROR when the node is useless (no model, or pairs
arrive and none is processed), WARN when something needs a look (a camera silent, images that do
not pair, errors in the window), OK again as soon as a window is clean. Cumulative counters go
in, window deltas come out, so an error at start-up (an image before camera_info) does not pin
WARN forever.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

OK, WARN, ERROR = 0, 1, 2  # DiagnosticStatus.OK / WARN / ERROR (as ints)
LEVEL_NAMES = {OK: "OK", WARN: "WARN", ERROR: "ERROR"}
RECOVERY_PERIODS = 5  # clean periods in a row before the log says OK again


@dataclass(frozen=True)
class Health:
    level: int
    message: str


class HealthMonitor:
    """``update`` once per diagnostics period with the cumulative counters."""

    COUNTERS = ("input_left", "input_right", "paired", "processed", "failed_pairs")

    def __init__(self) -> None:
        self._last: dict[str, int] = {}
        self._logged_level = OK
        self._clean = 0  # OK periods in a row since the last line that was not OK
        self._state = ""
        self._partial = True  # the first window in a lifecycle state began before it

    def log_line(self, health: Health) -> tuple[int, str] | None:
        """(level, line) for the node's log, else None. While active: a level worse than the
        last line's at once (a camera that goes silent, pairs that all fail: in the terminal,
        not only in /diagnostics), and OK again after RECOVERY_PERIODS clean periods in a row,
        so a fault that comes and goes is one line, not one per period. Not judged: the first
        period in a lifecycle state (it began before it) and the states other than active."""
        if self._state != "active" or self._partial:
            return None
        if health.level == OK:
            if self._logged_level == OK:
                return None
            self._clean += 1
            if self._clean < RECOVERY_PERIODS:
                return None
            before, self._logged_level = self._logged_level, OK
            return OK, (f"diagnostics OK again (was {LEVEL_NAMES[before]}; {RECOVERY_PERIODS} "
                        f"clean periods): {health.message}")
        self._clean = 0
        if health.level <= self._logged_level:
            return None
        self._logged_level = health.level
        return health.level, f"diagnostics {LEVEL_NAMES[health.level]}: {health.message}"

    def window(self, counts: Mapping[str, int], errors: Mapping[str, int]) -> dict[str, int]:
        """Deltas since the previous call: the counters and each error kind (``errors_<kind>``)."""
        now = {name: int(counts.get(name, 0)) for name in self.COUNTERS}
        now.update({f"errors_{kind}": int(n) for kind, n in errors.items()})
        delta = {name: value - self._last.get(name, 0) for name, value in now.items()}
        self._last = now
        return delta

    def update(self, counts: Mapping[str, int], errors: Mapping[str, int], model_error: str = "",
               state: str = "active") -> tuple[Health, dict[str, int]]:
        """The level for the window that just ended, and that window's deltas."""
        d = self.window(counts, errors)
        self._partial, self._state = state != self._state, state
        error_kinds = {k[len("errors_"):]: v for k, v in d.items() if k.startswith("errors_") and v}
        if state == "finalized":
            return Health(ERROR, "finalized (lifecycle shutdown): no detection"), d
        if state == "unconfigured":
            reason = model_error or "waiting for configure"
            level = ERROR if model_error else OK
            return Health(level, f"unconfigured: {reason}"), d
        if model_error:
            return Health(ERROR, f"no model: {model_error}"), d
        if state != "active":
            return Health(OK, f"{state}: not subscribed (lifecycle)"), d
        left, right, paired = d["input_left"], d["input_right"], d["paired"]
        summary = ", ".join(f"{k} {v}" for k, v in sorted(error_kinds.items(), key=lambda kv: -kv[1]))
        if paired > 0 and d["processed"] == 0:
            if d["failed_pairs"]:  # every pair fails (not a warning counted before a pair that
                # is still being inferred: no camera_info yet, 2D only)
                return Health(ERROR, f"{paired} pairs arrived, none processed ({summary})"), d
            return Health(WARN, f"{paired} pairs arrived, none finished in the last period "
                                f"(a model slower than diagnostics_period?)"), d
        if left == 0 and right == 0:
            return Health(WARN, "no images arriving"), d
        if left == 0 or right == 0:
            side = "left" if left == 0 else "right"
            return Health(WARN, f"{side} camera silent: no {side} images in the last period"), d
        if paired == 0:
            return Health(WARN, "images arrive but do not pair (stamps / sync_slop?)"), d
        if error_kinds:
            return Health(WARN, f"{sum(error_kinds.values())} errors in the last period: {summary}"), d
        return Health(OK, f"{d['processed']} pairs processed in the last period"), d


def status_values(state: str, model_path: str, model: str, pipeline: Any, calibration: Any,
                  inputs: Any, snapshot: dict, window: dict) -> dict[str, Any]:
    """The key/values of the node's DiagnosticStatus (tools read latency_<stage>_ms_p50)."""
    values: dict[str, Any] = {"lifecycle_state": state, "model_path": model_path, "model": model}
    if pipeline is not None:
        b = pipeline.backend
        values.update(backend=b.name, device=b.device, precision=b.info.precision,
                      input_shape=f"{b.input.batch or 'dynamic'}x{b.input.hw[0]}x{b.input.hw[1]}")
    camera, reason = calibration.camera()
    values["calibration"] = (f"fx {camera.fx:.1f}, baseline {camera.baseline:.3f} m, doffs "
                             f"{camera.doffs:.1f} px" if camera else reason)
    if inputs is not None:
        values.update(inputs.counters())
    values.update(snapshot)
    values.update({f"window_{k}": v for k, v in window.items() if not k.startswith("errors_")})
    return values
