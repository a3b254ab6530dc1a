"""Plots of a track test (``evaluate_bag --plots``) and of the stereo accuracy, as PNG files.

matplotlib is an optional dependency: nothing here imports it before a plot is asked for, and
``require_matplotlib`` says in one line what to install. The figures are built on
``matplotlib.figure.Figure`` directly (no pyplot: no global state, no display backend), and
each ``*_figure`` function returns the figure, so its axes can be inspected before saving.
Inputs are plain arrays and mappings; nothing here reads a bag.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

BUCKET_M = 5.0
MAX_RANGE_M = 30.0
DPI = 110


class PlotsUnavailable(RuntimeError):
    """matplotlib is not installed (the message says how to get it)."""


def require_matplotlib() -> None:
    """PlotsUnavailable with a one-line reason when matplotlib cannot be imported."""
    try:
        import matplotlib  # noqa: F401
        from matplotlib.figure import Figure  # noqa: F401
    except ImportError as exc:
        raise PlotsUnavailable(f"plots need matplotlib, which is not installed ({exc}): "
                               f"pip install matplotlib") from None


def _figure(width: float, height: float, rows: int = 1, cols: int = 1, **kw: Any) -> Any:
    require_matplotlib()
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, **kw)
    return fig, (axes[:, 0] if cols == 1 else axes.ravel())


def save(fig: Any, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    return path


# ---------------------------------------------------------------------------- depth error
def range_buckets(depths: np.ndarray, errors: np.ndarray, bucket_m: float = BUCKET_M,
                  max_range_m: float = MAX_RANGE_M) -> dict[str, np.ndarray]:
    """Per bucket [lo, lo + bucket_m) to ``max_range_m``: the cones, the located ones, the
    stereo yield (located / cones; NaN where a bucket has no cone) and the median and 90th
    percentile of |error| over the located ones (NaN where none)."""
    depths = np.asarray(depths, np.float64).ravel()
    errors = np.asarray(errors, np.float64).ravel()
    if depths.shape != errors.shape:
        raise ValueError(f"depths {depths.shape} and errors {errors.shape} differ")
    edges = np.arange(0.0, max_range_m + 1e-9, bucket_m)
    n = len(edges) - 1
    which = np.digitize(depths, edges) - 1  # bucket index, -1 / n outside
    located = np.isfinite(errors)
    cones = np.bincount(which[(which >= 0) & (which < n)], minlength=n)
    found = np.bincount(which[(which >= 0) & (which < n) & located], minlength=n)
    median, p90 = np.full(n, np.nan), np.full(n, np.nan)
    for k in np.flatnonzero(found):
        e = np.abs(errors[(which == k) & located])
        median[k], p90[k] = np.median(e), np.percentile(e, 90)
    with np.errstate(invalid="ignore", divide="ignore"):
        yield_ = np.where(cones > 0, found / np.maximum(cones, 1), np.nan)
    return {"lo": edges[:-1], "hi": edges[1:], "cones": cones, "located": found,
            "yield": yield_, "median": median, "p90": p90}


def depth_error_figure(series: Mapping[str, tuple[ArrayLike, ArrayLike]], *,
                       error_label: str = "depth error (m)",
                       title: str = "Depth error against range",
                       bucket_m: float = BUCKET_M, max_range_m: float = MAX_RANGE_M) -> Any:
    """Depth error against range, per ``bucket_m`` bucket to ``max_range_m``, with the stereo
    yield. ``series``: name -> (true range of EVERY ground-truth cone that should be located,
    its error in ``error_label``'s unit, NaN where it was not located); e.g. stereo_accuracy's
    ``{"model, refined": (z_true, 100 * (z - z_true) / z_true)}`` with error_label
    "depth error (% of range)". Top: each located cone's error (dots) and the median and 90th
    percentile of |error| per bucket (lines); bottom: located / cones per bucket (bars). The
    error axis spans three times the largest p90; errors beyond it (wrong pairings) are drawn on
    its edge as triangles and counted in the title, so they cannot squash the rest."""
    fig, (top, bottom) = _figure(7.5, 6.0, rows=2, sharex=True,
                                 gridspec_kw={"height_ratios": [3, 2]})
    names = list(series)
    width = bucket_m * 0.8 / max(len(names), 1)
    colours = [f"C{i}" for i in range(len(names))]
    data = [tuple(np.asarray(a, np.float64).ravel() for a in series[name]) for name in names]
    buckets = [range_buckets(d, e, bucket_m, max_range_m) for d, e in data]
    p90s = np.concatenate([b["p90"] for b in buckets]) if buckets else np.empty(0)
    limit = 3.0 * float(np.nanmax(p90s)) if np.isfinite(p90s).any() else np.inf
    off_scale = 0
    for i, (name, colour, (depths, errors), b) in enumerate(zip(names, colours, data, buckets)):
        centre = (b["lo"] + b["hi"]) / 2
        ok = np.isfinite(errors) & (depths < max_range_m)
        inside = ok & (np.abs(errors) <= limit)
        top.scatter(depths[inside], errors[inside], s=6, alpha=0.35, color=colour, linewidths=0)
        beyond = ok & ~inside
        off_scale += int(beyond.sum())
        for sign, marker in ((1.0, "^"), (-1.0, "v")):
            edge = beyond & (np.sign(errors) == sign)
            top.scatter(depths[edge], np.full(int(edge.sum()), sign * limit * 0.97), s=28,
                        marker=marker, color=colour, linewidths=0)
        top.plot(centre, b["median"], "o-", color=colour, label=f"{name}: median |error|")
        top.plot(centre, b["p90"], "^--", color=colour, alpha=0.7, label=f"{name}: p90 |error|")
        offset = (i - (len(names) - 1) / 2) * width
        bars = bottom.bar(centre + offset, np.nan_to_num(b["yield"]) * 100, width=width,
                          color=colour, alpha=0.8, label=name)
        for bar, found, total in zip(bars, b["located"], b["cones"]):
            if total:
                bottom.annotate(f"{found}/{total}", (bar.get_x() + bar.get_width() / 2,
                                                     bar.get_height()),
                                ha="center", va="bottom", fontsize=7)
    top.axhline(0.0, color="0.5", linewidth=0.8)
    top.set_ylabel(error_label)
    if np.isfinite(limit) and limit > 0:
        top.set_ylim(-limit, limit)
    top.set_title(title if not off_scale else
                  f"{title}\n({off_scale} beyond +-{limit:.3g}: triangles on the edge)")
    top.grid(alpha=0.3)
    if names:
        top.legend(fontsize=7, loc="upper left")
    bottom.set_ylabel("stereo yield (% located)")
    bottom.set_xlabel("true range (m)")
    bottom.set_ylim(0, 115)
    bottom.set_xlim(0, max_range_m)
    bottom.set_xticks(np.arange(0.0, max_range_m + 1e-9, bucket_m))
    bottom.grid(alpha=0.3, axis="y")
    if len(names) > 1:
        bottom.legend(fontsize=7, loc="lower left")
    return fig


# ---------------------------------------------------------------------------- track test
def timeline_figure(time_s: ArrayLike, cones: ArrayLike, det_left: ArrayLike,
                    det_right: ArrayLike, counters: Mapping[str, ArrayLike],
                    title: str = "Cones per frame over the bag") -> Any:
    """Top: cones and detections per processed pair over the bag's time (NaN where a pair was
    not processed or had no calibration); bottom: the counters (cumulative, by time), e.g.
    stale pairs dropped, pairs that failed, cones rejected by the gates."""
    fig, (top, bottom) = _figure(9.0, 5.5, rows=2, sharex=True,
                                 gridspec_kw={"height_ratios": [3, 2]})
    t = np.asarray(time_s, np.float64)
    top.plot(t, np.asarray(det_left, np.float64), ".-", color="0.65", linewidth=0.8,
             markersize=3, label="detections left")
    top.plot(t, np.asarray(det_right, np.float64), ".-", color="0.8", linewidth=0.8,
             markersize=3, label="detections right")
    top.plot(t, np.asarray(cones, np.float64), "o-", color="C0", markersize=3,
             label="cones located")
    top.set_ylabel("per frame")
    top.set_title(title)
    top.grid(alpha=0.3)
    top.legend(fontsize=7, loc="upper right")
    for i, (name, values) in enumerate(counters.items()):
        bottom.step(t, np.asarray(values, np.float64), where="post", color=f"C{i + 1}",
                    label=f"{name} ({_last(values)})")
    bottom.set_ylabel("count so far")
    bottom.set_xlabel("bag time (s)")
    bottom.grid(alpha=0.3)
    if counters:
        bottom.legend(fontsize=7, loc="upper left")
    return fig


def _last(values: ArrayLike) -> int:
    """The final value of a cumulative counter (0 when it has none)."""
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    return int(v[-1]) if v.size else 0


def latency_figure(latency_ms: Mapping[str, ArrayLike],
                   title: str = "Latency per stage") -> Any:
    """Per stage, the distribution of its time per pair (ms): box (quartiles), whiskers (5th
    and 95th percentiles) and every pair as a dot; stages without samples are left out."""
    stages = [s for s, v in latency_ms.items() if np.size(v)]
    fig, (ax,) = _figure(7.5, 0.8 + 0.5 * max(len(stages), 1))
    data = [np.asarray(latency_ms[s], np.float64) for s in stages]
    if data:
        labels = [f"{s}\np50 {np.median(d):.3g} ms" for s, d in zip(stages, data)]
        ax.boxplot(data, whis=(5, 95), showfliers=False, **_horizontal_boxes(labels))
        rng = np.random.default_rng(0)
        for i, d in enumerate(data, start=1):
            ax.scatter(d, i + rng.uniform(-0.15, 0.15, d.size), s=4, alpha=0.4, color="C0",
                       linewidths=0)
        ax.tick_params(axis="y", labelsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")  # stages from microseconds to the inference's hundreds of ms
    ax.set_xlabel("time per pair (ms)")
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="x")
    return fig


def _horizontal_boxes(labels: list[str]) -> dict[str, Any]:
    """Axes.boxplot's keywords for horizontal, labelled boxes: ``labels`` became
    ``tick_labels`` in matplotlib 3.9, ``vert=False`` became ``orientation`` in 3.10."""
    import matplotlib
    version = tuple(int(x) for x in matplotlib.__version__.split(".")[:2])
    return {"tick_labels" if version >= (3, 9) else "labels": labels,
            **({"orientation": "horizontal"} if version >= (3, 10) else {"vert": False})}


def detections_figure(per_class: Mapping[str, Mapping[str, int]],
                      title: str = "Detections per class") -> Any:
    """Grouped bars: per class, one bar per count in ``per_class`` (e.g. "left", "right",
    "cones", "ground truth"), each labelled with its number."""
    groups = list(per_class)
    classes = sorted({c for counts in per_class.values() for c in counts})
    fig, (ax,) = _figure(max(6.0, 1.3 * len(classes) + 2), 4.0)
    x = np.arange(len(classes))
    width = 0.8 / max(len(groups), 1)
    for i, group in enumerate(groups):
        values = [per_class[group].get(c, 0) for c in classes]
        bars = ax.bar(x + (i - (len(groups) - 1) / 2) * width, values, width=width,
                      label=group, color=f"C{i}")
        ax.bar_label(bars, fontsize=7)
    ax.set_xticks(x, [c.replace("_cone", "") for c in classes])
    ax.set_xlabel("class")
    ax.set_ylabel("count over the bag")
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="y")
    if groups:
        ax.legend(fontsize=7)
    return fig


def _column(rows: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
    """A numeric column of the rows (NaN where empty or missing)."""
    return np.array([float(r[key]) if r.get(key, "") not in ("", None) else np.nan
                     for r in rows], np.float64)


def bag_figures(rows: Sequence[Mapping[str, Any]], latency_ms: Mapping[str, Sequence[float]],
                per_class: Mapping[str, Mapping[str, int]],
                depth: tuple[np.ndarray, np.ndarray] | None = None,
                bag: str = "") -> dict[str, Any]:
    """evaluate_bag's figures by file name: the rows of frames.csv (with "bag_time_ns",
    "status", "det_left", "det_right", "cones", the gate counts and "stale_so_far"), latency
    per stage, counts per class, and (true range, signed depth error with NaN where not
    located) when the bag has ground truth."""
    suffix = f": {bag}" if bag else ""
    figures: dict[str, Any] = {}
    if depth is not None and len(depth[0]):
        figures["depth_error_vs_range.png"] = depth_error_figure(
            {"located cones": depth}, error_label="depth error z - z_true (m)",
            title=f"Depth error against range{suffix}")
    if rows:
        t_ns = _column(rows, "bag_time_ns")
        t = (t_ns - np.nanmin(t_ns)) / 1e9
        ok = np.array([r.get("status") == "ok" for r in rows])
        rejected = np.nan_to_num(_column(rows, "rejected_ground")) + \
            np.nan_to_num(_column(rows, "rejected_size"))
        counters = {"stale pairs dropped": _column(rows, "stale_so_far"),
                    "pairs failed": np.cumsum(~ok),
                    "cones rejected by the gates": np.cumsum(rejected)}
        if np.isfinite(_column(rows, "masked")).any():
            counters["detections masked"] = np.cumsum(np.nan_to_num(_column(rows, "masked")))
        figures["cones_per_frame.png"] = timeline_figure(
            t, _column(rows, "cones"), _column(rows, "det_left"), _column(rows, "det_right"),
            counters, title=f"Cones per frame over the bag{suffix}")
    if any(len(v) for v in latency_ms.values()):
        figures["latency_per_stage.png"] = latency_figure(
            latency_ms, title=f"Latency per stage ({len(rows)} pairs){suffix}")
    if any(per_class.values()):
        figures["detections_per_class.png"] = detections_figure(
            per_class, title=f"Detections per class{suffix}")
    return figures


def write_figures(figures: Mapping[str, Any], out: Path) -> list[Path]:
    return [save(fig, Path(out) / name) for name, fig in figures.items()]


# ---------------------------------------------------------------------------- stereo rig
def rig_figure(samples: np.ndarray, fit: Any, reference: Any = None) -> Any:
    """check_stereo_rig --plot: the measured disparity (minus doffs) against the one the box
    heights predict, with this drive's Theil-Sen line and the reference's; and the histogram of
    the row offsets (right minus left) with their median. ``samples`` (n, 3): d - doffs,
    d_size, rows (core.rig.RigSamples); ``fit`` / ``reference``: core.rig.RigFit or None."""
    fig, (left, right) = _figure(11.0, 4.5, cols=2)
    x = np.asarray(samples, np.float64).reshape(-1, 3)
    left.scatter(x[:, 1], x[:, 0], s=6, alpha=0.4, label=f"{len(x)} matched cones")
    top = max(float(np.nanmax(x[:, 1])) if len(x) else 1.0, 1.0)
    grid = np.linspace(0.0, top, 50)
    for line, style, name in ((fit, "C1-", "this drive"), (reference, "C2--", "reference")):
        if line is not None:
            left.plot(grid, line.disparity_scale * grid + line.disparity_offset_px, style,
                      label=f"{name}: d = {line.disparity_scale:.3f} d_size "
                            f"{line.disparity_offset_px:+.2f} px")
    left.set_xlabel("disparity the box height predicts (px)")
    left.set_ylabel("measured disparity - doffs (px)")
    left.set_title("Disparity against the size prior")
    left.legend(fontsize=8)
    right.hist(x[:, 2], bins=40, color="C0")
    if fit is not None:
        right.axvline(fit.vertical_offset_px, color="C1",
                      label=f"median {fit.vertical_offset_px:+.2f} px")
        right.legend(fontsize=8)
    right.set_xlabel("row offset, right minus left (px)")
    right.set_ylabel("cones")
    right.set_title("Vertical offset")
    return fig
