"""Is the stereo rig still calibrated? Three drifts, measured from the cones the stereo stage
matches (ARCHITECTURE section 5, docs/rig_health.md):

- vertical offset: the same cone on different rows of the two views (a knocked camera, a small
  roll or pitch of one of them): the median of the rows the refinement found (right minus
  left). Needs no reference.
- disparity offset and scale: a cone of real height H whose box is h px tall is at about
  Z = fy H / h, so its disparity is about d_size = fx B h / (fy H) (core.stereo's size prior,
  without doffs). Against it the measured disparity (minus doffs) follows
  d = scale x d_size + offset: a Theil-Sen line over the matched cones. A yaw between the
  cameras or a wrong principal point shifts every disparity (the offset moves); a wrong
  baseline or focal length in camera_info scales d_size (the slope moves). The detector's boxes
  are not exactly the cone's height (padding shows as an offset, a size bias as a scale), so
  both are judged against a REFERENCE fitted on a drive just after calibrating, with the same
  model: depth_scale_vs_reference = reference slope / slope (1.15: every depth 15 % too far),
  disparity_offset_vs_reference_px = offset - reference offset (+2: every disparity 2 px too
  large, a cone at 15 m read at about 11 m).

ROS-free: the node's diagnostics (RigMonitor), evaluate_bag's summary and check_stereo_rig use
it alike.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .stereo import Cones, StereoCamera
from .stereo_kernel import BOX_PAIR


class RigReferenceError(ValueError):
    """A reference file that cannot be used."""


@dataclass(frozen=True)
class RigThresholds:
    """When a drift warns and when it is an error; a verdict on fewer cones is withheld."""

    warn_vertical_px: float = 1.0
    error_vertical_px: float = 2.0
    warn_scale: float = 0.05  # |depth scale vs reference - 1|
    error_scale: float = 0.10
    warn_offset_px: float = 0.5  # |disparity offset vs reference|
    error_offset_px: float = 1.0
    min_cones: int = 100

    def __post_init__(self) -> None:
        for name in ("vertical_px", "scale", "offset_px"):
            warn, error = getattr(self, f"warn_{name}"), getattr(self, f"error_{name}")
            if not (0 < warn < error and math.isfinite(error)):
                raise ValueError(f"rig thresholds: need 0 < warn_{name} < error_{name}, got "
                                 f"{warn:g} and {error:g}")
        if self.min_cones < 3:
            raise ValueError(f"rig thresholds: min_cones must be >= 3, got {self.min_cones}")


def rig_samples(cones: Cones, camera: StereoCamera) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(measured disparity - doffs, size-predicted disparity, row offset) of the cones that can
    testify: box pairs, refined (their disparity and row offset come from the images), with a
    box uncut by the top and bottom borders (a finite size prediction)."""
    use = (cones.source == BOX_PAIR) & cones.refined & np.isfinite(cones.size_disparity) \
        & np.isfinite(cones.row_offset)
    return (cones.disparity[use].astype(np.float64) - camera.doffs,
            cones.size_disparity[use].astype(np.float64),
            cones.row_offset[use].astype(np.float64))


@dataclass
class RigFit:
    """The three figures with their 95 % intervals, from ``cones`` matched cones."""

    cones: int
    vertical_offset_px: float
    vertical_offset_px_ci: tuple[float, float]
    disparity_scale: float
    disparity_scale_ci: tuple[float, float]
    disparity_offset_px: float
    disparity_offset_px_ci: tuple[float, float]

    def as_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RigFit":
        return cls(**{k: (tuple(data[k]) if k.endswith("_ci") else data[k])
                      for k in cls.__dataclass_fields__})


def _median_ci(x: np.ndarray) -> tuple[float, float]:
    """A distribution-free 95 % interval of the median (order statistics of the binomial)."""
    s = np.sort(x)
    n = s.size
    k = int(max(math.floor(n / 2 - 0.98 * math.sqrt(n)), 0))
    return float(s[k]), float(s[min(n - 1 - k, n - 1)])


MAX_SLOPE_SAMPLES = 1000  # Theil-Sen takes every pair of samples: n^2 memory and time


def fit_rig(d: np.ndarray, d_size: np.ndarray, rows: np.ndarray) -> RigFit | None:
    """The vertical offset (median of the rows) and the Theil-Sen line d = scale x d_size +
    offset (the offset: the median of d - scale x d_size), each with a 95 % interval (Sen's for
    the slope; for the offset the median's interval of d - s x d_size over the slope's interval
    s, joined). None below 3 cones. The slope is fitted on at most MAX_SLOPE_SAMPLES of them,
    evenly spaced (a whole bag's worth of cones would take gigabytes); the medians on all. A
    slope that cannot be fitted (every cone the same size: a parked car) is NaN, and so is the
    offset."""
    from scipy.stats import theilslopes
    d, d_size, rows = (np.asarray(a, np.float64) for a in (d, d_size, rows))
    if d.size < 3:
        return None
    pick = np.linspace(0, d.size - 1, min(d.size, MAX_SLOPE_SAMPLES)).round().astype(np.int64)
    if np.ptp(d_size[pick]) > 0:
        slope, _, lo, hi = theilslopes(d[pick], d_size[pick], alpha=0.95)
    else:
        slope = lo = hi = math.nan
    if not (math.isfinite(slope) and slope > 0):
        return RigFit(int(d.size), float(np.median(rows)), _median_ci(rows), math.nan,
                      (math.nan, math.nan), math.nan, (math.nan, math.nan))
    offset = float(np.median(d - slope * d_size))
    bounds = [b for s in (lo, slope, hi) for b in _median_ci(d - s * d_size)]
    return RigFit(int(d.size), float(np.median(rows)), _median_ci(rows), float(slope),
                  (float(lo), float(hi)), offset, (min(bounds), max(bounds)))


def load_reference(path: str | Path) -> RigFit:
    """A reference saved by ``save_reference`` (check_stereo_rig --save-reference)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        fit = RigFit.from_dict(data["fit"] if "fit" in data else data)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RigReferenceError(f"cannot use {path} as a rig reference: "
                                f"{type(exc).__name__}: {exc}") from None
    if not (math.isfinite(fit.disparity_scale) and fit.disparity_scale > 0
            and math.isfinite(fit.disparity_offset_px)):
        raise RigReferenceError(f"cannot use {path} as a rig reference: its disparity scale "
                                f"({fit.disparity_scale}) and offset ({fit.disparity_offset_px}) "
                                f"are not a fit (was it recorded on a moving car?)")
    return fit


def save_reference(fit: RigFit, path: str | Path, note: str = "") -> Path:
    path = Path(path)
    path.write_text(json.dumps({"fit": fit.as_dict(), "note": note,
                                "saved": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=1))
    return path


@dataclass
class RigVerdict:
    verdict: str  # ok, warn, error
    reasons: list[str] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)
    depth_scale_vs_reference: float | None = None
    disparity_offset_vs_reference_px: float | None = None


def judge(fit: RigFit | None, reference: RigFit | None,
          thresholds: RigThresholds = RigThresholds(), fx_baseline: float | None = None
          ) -> RigVerdict:
    """ok / warn / error with the reasons in words and what to do. Scale and offset only
    against a reference; no verdict but a warning below ``thresholds.min_cones``.
    ``fx_baseline`` (px m) lets the offset be told as a depth at 15 m."""
    t = thresholds
    n = fit.cones if fit is not None else 0
    if fit is None or n < t.min_cones:
        return RigVerdict("warn", [f"only {n} matched cones: a verdict needs {t.min_cones}"],
                          ["drive on (or give more pairs) until enough cones were matched"])
    out = RigVerdict("ok")

    def level(value: float, warn: float, error: float) -> str:
        return "error" if abs(value) >= error else "warn" if abs(value) >= warn else "ok"
    rank = {"ok": 0, "warn": 1, "error": 2}

    def raise_to(lv: str) -> None:
        if rank[lv] > rank[out.verdict]:
            out.verdict = lv
    v = fit.vertical_offset_px
    lv = level(v, t.warn_vertical_px, t.error_vertical_px)
    if lv != "ok":
        raise_to(lv)
        out.reasons.append(f"the right image is {abs(v):.2f} px {'lower' if v > 0 else 'higher'} "
                           f"than the left (the same cones on different rows): the rectification "
                           f"no longer holds (a knocked or loose camera)")
        out.advice.append("recalibrate the stereo rig (check the camera mounts first)")
    if reference is not None and not math.isfinite(fit.disparity_scale):
        raise_to("warn")
        out.reasons.append(f"the disparity scale cannot be fitted on these {n} cones: they are "
                           f"all about the same size (a parked car, a still scene)")
        out.advice.append("judge the rig on a drive, with cones near and far")
        return out
    if reference is None:
        out.reasons.append("no reference: disparity scale and offset are not judged (record one "
                           "with check_stereo_rig --save-reference on a drive just after "
                           "calibrating)")
        return out
    scale = reference.disparity_scale / fit.disparity_scale
    offset = fit.disparity_offset_px - reference.disparity_offset_px
    out.depth_scale_vs_reference, out.disparity_offset_vs_reference_px = scale, offset
    lv = level(scale - 1, t.warn_scale, t.error_scale)
    if lv != "ok":
        raise_to(lv)
        out.reasons.append(f"every depth is {abs(scale - 1) * 100:.0f} % too "
                           f"{'far' if scale > 1 else 'near'} against the reference (the "
                           f"disparities scale as if the baseline or focal length changed)")
        out.advice.append(f"check camera_info: the baseline (the right P's Tx) or fx looks "
                          f"{'too large' if scale > 1 else 'too small'} by a factor {scale:.3f}; "
                          f"else recalibrate")
    lv = level(offset, t.warn_offset_px, t.error_offset_px)
    if lv != "ok":
        raise_to(lv)
        at15 = ""
        if fx_baseline:
            d15 = fx_baseline / 15.0
            at15 = f": a cone at 15 m reads {fx_baseline / max(d15 + offset, 1e-6):.1f} m"
        out.reasons.append(f"every disparity is {abs(offset):.2f} px too "
                           f"{'large' if offset > 0 else 'small'} against the reference (a yaw "
                           f"between the cameras or a wrong principal point){at15}")
        out.advice.append("recalibrate, or check the principal points cx of the two P in "
                          "camera_info (their difference is the disparity offset)")
    return out


def report(fit: RigFit | None, verdict: RigVerdict) -> dict[str, Any]:
    """Every figure under the names check_stereo_rig --json writes (None where not known)."""
    out: dict[str, Any] = {"cones": fit.cones if fit else 0}
    for name in ("vertical_offset_px", "disparity_scale", "disparity_offset_px"):
        out[name] = getattr(fit, name) if fit else None
        out[f"{name}_ci95"] = list(getattr(fit, f"{name}_ci")) if fit else None
    out["depth_scale_vs_reference"] = verdict.depth_scale_vs_reference
    out["disparity_offset_vs_reference_px"] = verdict.disparity_offset_vs_reference_px
    out.update(verdict=verdict.verdict, reasons=verdict.reasons, advice=verdict.advice)
    return out


class RigSamples:
    """The most recent ``window`` samples (d - doffs, d_size, rows) of matched cones: a ring
    buffer filled per pair (vectorized) and read by the fit."""

    def __init__(self, window: int = 600) -> None:
        self.data = np.full((max(window, 3), 3), np.nan)
        self.next = 0
        self.filled = 0

    def add(self, cones: Cones | None, camera: StereoCamera | None) -> None:
        if cones is None or camera is None or not len(cones):
            return
        d, d_size, rows = rig_samples(cones, camera)
        n = min(d.size, len(self.data))
        if not n:
            return
        at = (self.next + np.arange(n)) % len(self.data)
        self.data[at] = np.stack([d[-n:], d_size[-n:], rows[-n:]], 1)
        self.next = int((self.next + n) % len(self.data))
        self.filled = min(self.filled + n, len(self.data))

    def fit(self) -> RigFit | None:
        x = self.data[:self.filled]
        return fit_rig(x[:, 0], x[:, 1], x[:, 2])


class RigMonitor:
    """The node's live view of its rig: matched cones go in per pair (from the worker thread;
    ``add`` is the only per-pair cost: a few array operations), the fit runs at most once per
    ``period_s`` when diagnostics ask (never on the worker), against ``reference`` when given."""

    def __init__(self, thresholds: RigThresholds = RigThresholds(), window: int = 600,
                 reference: RigFit | None = None, reference_name: str = "",
                 period_s: float = 1.0) -> None:
        import threading
        self.thresholds, self.reference, self.reference_name = thresholds, reference, reference_name
        self.period_s = period_s
        self.samples = RigSamples(window)
        self._camera: StereoCamera | None = None
        self._lock = threading.Lock()
        self._last: tuple[float, RigFit | None, RigVerdict] | None = None

    def add(self, cones: Cones | None, camera: StereoCamera | None) -> None:
        """A pair's matched cones. New calibration (another camera_info) starts the window
        afresh: the old cones testify to the old calibration."""
        with self._lock:
            if camera is not None and camera != self._camera:
                if self._camera is not None:
                    self.samples = RigSamples(len(self.samples.data))
                self._camera = camera
            self.samples.add(cones, camera)

    def status(self, now: float | None = None) -> tuple[int, str, dict[str, Any]]:
        """(level 0 ok / 1 warn / 2 error, message, key/values) of the latest fit (refitted
        once ``period_s`` has passed; the samples are copied under the lock and fitted outside
        it, so the worker's ``add`` never waits for a fit). Below the cone count for a verdict:
        OK, saying so."""
        now = time.monotonic() if now is None else now
        if self._last is None or now - self._last[0] >= self.period_s:
            with self._lock:
                x = self.samples.data[:self.samples.filled].copy()
                camera = self._camera
            fit = fit_rig(x[:, 0], x[:, 1], x[:, 2])
            fx_baseline = camera.fx * camera.baseline if camera is not None else None
            self._last = (now, fit, judge(fit, self.reference, self.thresholds, fx_baseline))
        _, fit, verdict = self._last
        values = {k: ("" if v is None else f"{v:.4g}" if isinstance(v, float) else
                      "; ".join(v) if isinstance(v, list) and v and isinstance(v[0], str) else
                      ", ".join(f"{x:.4g}" for x in v) if isinstance(v, list) else v)
                  for k, v in report(fit, verdict).items()}
        values["reference"] = self.reference_name or "none"
        n = fit.cones if fit else 0
        if n < self.thresholds.min_cones:  # the values say what the level says (they said
            values["verdict"] = "collecting"  # "warn" under an OK level)
            return 0, f"collecting: {n} of {self.thresholds.min_cones} matched cones for a " \
                      f"verdict", values
        level = {"ok": 0, "warn": 1, "error": 2}[verdict.verdict]
        message = (f"rig ok on {n} cones (vertical offset {fit.vertical_offset_px:+.2f} px)"
                   if level == 0 else f"{verdict.reasons[0]}; {verdict.advice[0]}")
        return level, message, values
