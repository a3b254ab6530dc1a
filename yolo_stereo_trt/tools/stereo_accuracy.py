"""stereo_accuracy: how well cones are located in 3D, per 5 m bucket to 30 m, against ground truth.

  stereo_accuracy [--pairs 60] [--seed 500000] [--model M | --no-model] [--json F] [--plots DIR]
                  [--randomize [SWITCHES]]

Renders held-out synthetic pairs (seeds never trained on, and never used to fit the stereo
stage's uncertainty model: scripts/fit_stereo_sigmas.py uses 600000+ and, randomized,
610000+), of the plain world or, with --randomize, of the randomized world (blur, noise, JPEG,
clutter, each pair's own camera: docs/synthetic_world.md), and locates cones with the
node's stereo stage (size-prior pairing, epipolar search, border-cut geometry, refinement), from
the model's detections (the node's pipeline, conf 0.25) and from the ground-truth boxes (a
perfect detector: the visible part of every cone seen at least a quarter in a view).

The cones scored are those seen at least half in the left view and at least a quarter in the
right one (a cone the right camera does not see cannot be located). Per bucket of true range:

- detected: scored cones a left detection overlaps (IoU >= 0.5); everything after the left
  detection is the stereo stage's, so the yield is taken over these;
- located, yield (located / detected), the depth error's median and 90th percentile (% of range);
- wrong: located more than 10 % off in depth AND outside the 3-sigma ellipsoid of their own
  covariance (what a mapper would trust and be misled by);
- inside 1 / 2 sigma: the share of located cones whose 3D error lies inside the 1 / 2 sigma
  ellipsoid of their covariance (a calibrated 3-D Gaussian: 19.9 % / 73.9 %), for all of them,
  and for the cones found by the epipolar search alone;
- searched: the share of located cones found by the epipolar search (no right detection).

Then the same coverage over every range together, per bin of the left detection's score (the
covariance widens a less sure box's centre: it must stay calibrated at low scores too), and
per share of the left box another left detection's box covers (Cones.overlap: a box
or a patch that holds part of another cone mixes two cones; the covariance widens for it), and
per cone type (the large orange cone is taller and stands on a wider base plate than the
others: its box's offset below its axis follows the plate, not the height).

Last, per stereo source (box pair, searched, cut by a border) and 10 m of range: the share of
located cones beyond a mapper's chi-square gates on the squared Mahalanobis distance (3 degrees
of freedom: 7.81, 11.34 and 16.27 hold a Gaussian's errors 95 / 99 / 99.9 % of the time): what
a data association that gates there rejects. Errors with heavier tails than a Gaussian's
(partly hidden cones, a mixed match) show here as more than 5 / 1 / 0.1 % while the 1 / 2 sigma
shares, the errors' core, look calibrated.

Reference point: the cone's axis at half height (the stereo depth of a silhouette is its axis
depth). ``--plots DIR`` (matplotlib) draws the depth error and the yield against range.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ..core.cli import guarded, output_file, output_folder, positive_int, prepare_output
from ..data.synthetic_randomize import add_arguments as add_randomize_arguments
from ..data.synthetic_randomize import from_arguments as randomize_from_arguments

BUCKETS = tuple((float(lo), float(lo + 5)) for lo in range(0, 30, 5))
CHI2_3 = (1.0, 4.0, 9.0)  # squared Mahalanobis distance of the 1, 2 and 3 sigma ellipsoids
SCORE_BINS = ((0.0, 0.35), (0.35, 0.5), (0.5, 0.7), (0.7, 1.01))  # the left detection's score
# the share of the left box another left box covers: none, under 20 %, 20 % or more
OVERLAP_BINS = ("none", "under 20 %", "20 % or more")
# a mapper's data-association gates on the squared Mahalanobis distance: (the share of a 3-D
# Gaussian's errors inside, the chi-square quantile with 3 degrees of freedom)
GATES = (("95", 7.8147), ("99", 11.3449), ("99.9", 16.2662))
GATE_RANGES = ((0.0, 10.0), (10.0, 20.0), (20.0, 30.0))


def overlap_bin(share: np.ndarray) -> np.ndarray:
    """The OVERLAP_BINS index of each share (one bin each; NaN: the last)."""
    return np.where(share <= 0, 0, np.where(share < 0.2, 1, 2))


def score_pairs(pairs: int, seed: int, model: str | None, progress: bool = True,
                randomize=None) -> dict:
    """Per source ("model", "gt boxes"): per scored ground-truth cone its true depth, whether a
    left detection found it, and where located its depth error, squared Mahalanobis distance,
    stereo source and left detection score; and the stereo stage's counters. ``randomize``
    (a data.synthetic_randomize.Randomize): the randomized world's pairs (blur, noise, JPEG,
    clutter, each pair's own camera) instead of the plain world's."""
    from dataclasses import replace

    from tqdm import tqdm

    from ..core.classes import ClassMap, FSOCO_NAMES
    from ..core.postprocess import DecodeConfig, Detections, box_iou
    from ..core.stereo import StereoConfig, locate_cones
    from ..data.synthetic import render_pair
    pipeline = None
    if model is not None:
        from ..backends import load_backend
        from ..core.pipeline import StereoPipeline
        pipeline = StereoPipeline(load_backend(model, "cpu"))
    classes = pipeline.class_map if pipeline is not None else ClassMap(FSOCO_NAMES)
    config = StereoConfig()
    out: dict[str, dict] = {}
    for k in tqdm(range(pairs), desc="pairs", unit="pair", disable=not progress):
        scene = render_pair(seed + k, randomize=randomize)
        vis = scene.visibility
        scored = np.flatnonzero((vis[:, 0] >= 0.5) & (vis[:, 1] >= 0.25))
        sources = {}
        if pipeline is not None:
            sources["model"] = pipeline.detect(scene.left, scene.right, DecodeConfig())[0]
        views = [np.flatnonzero(vis[:, v] >= 0.25) for v in (0, 1)]
        sources["gt boxes"] = [
            Detections(box[idx], np.ones(len(idx), np.float32), scene.class_ids[idx])
            for box, idx in zip((scene.visible_left, scene.visible_right), views)]
        for name, (left, right) in sources.items():
            rec = out.setdefault(name, {"z": [], "detected": [], "located": [], "error": [],
                                        "m2": [], "source": [], "score": [], "overlap": [],
                                        "type": [], "counts": {}})
            # the camera's height above the ground, as the node takes it from its pose
            cones = locate_cones(left, right, scene.camera,
                                 replace(config, camera_height=scene.camera_height),
                                 images=(scene.left, scene.right), classes=classes)
            for key, n in cones.counts.items():
                rec["counts"][key] = rec["counts"].get(key, 0) + n
            truth = np.full(len(left), -1)  # the scored cone each left detection is
            if len(left) and len(scored):
                iou = box_iou(left.boxes, scene.visible_left[scored])
                best = iou.argmax(1)
                hit = iou[np.arange(len(left)), best] >= 0.5
                truth[hit] = scored[best[hit]]
            where = {}  # scored cone -> its cone (the first)
            for c, i in enumerate(cones.left_index.tolist()):
                if truth[i] >= 0:
                    where.setdefault(int(truth[i]), c)
            found = set(truth[truth >= 0].tolist())
            for g in scored.tolist():
                z = float(scene.xyz[g, 2])
                rec["z"].append(z)
                rec["type"].append(int(scene.class_ids[g]))  # the world's: CONE_TYPES order
                rec["detected"].append(g in found)
                c = where.get(g)
                rec["located"].append(c is not None)
                if c is None:
                    rec["error"].append(np.nan), rec["m2"].append(np.nan), rec["source"].append(-1)
                    rec["score"].append(np.nan), rec["overlap"].append(np.nan)
                    continue
                err = cones.xyz[c].astype(np.float64) - scene.xyz[g]
                rec["error"].append(float(err[2] / z))
                rec["m2"].append(float(err @ np.linalg.solve(
                    cones.covariance[c].astype(np.float64), err)))
                rec["source"].append(int(cones.source[c]))
                rec["score"].append(float(left.scores[cones.left_index[c]]))
                rec["overlap"].append(float(cones.overlap[c]))
    return {name: {**{k: np.asarray(v) for k, v in rec.items() if k != "counts"},
                   "counts": rec["counts"]} for name, rec in out.items()}


def share(mask: np.ndarray) -> float:
    """The fraction of True in ``mask`` (NaN for an empty one)."""
    return float(mask.mean()) if mask.size else float("nan")


def _coverage(s: dict, m: np.ndarray) -> dict:
    """The located cones of mask ``m``: how many, and inside 1 / 2 sigma, box pairs (cut
    included) and searched cones apart."""
    from ..core.stereo_kernel import EPIPOLAR_SEARCH
    m2, searched = s["m2"][m], s["source"][m] == EPIPOLAR_SEARCH
    return {"located": int(m.sum()), "inside_1sigma": share(m2[~searched] <= CHI2_3[0]),
            "inside_2sigma": share(m2[~searched] <= CHI2_3[1]), "searched": int(searched.sum()),
            "searched_inside_1sigma": share(m2[searched] <= CHI2_3[0]),
            "searched_inside_2sigma": share(m2[searched] <= CHI2_3[1])}


def bucket_table(scores: dict) -> dict:
    """The figures per source and bucket (see the module docstring)."""
    from ..core.classes import CONE_TYPES
    from ..core.stereo_kernel import EPIPOLAR_SEARCH
    result = {}
    for name, s in scores.items():
        rows = []
        for lo, hi in BUCKETS:
            in_bucket = (s["z"] >= lo) & (s["z"] < hi)
            detected = in_bucket & s["detected"].astype(bool)
            located = detected & s["located"].astype(bool)
            err, m2 = np.abs(s["error"][located]), s["m2"][located]
            searched = s["source"][located] == EPIPOLAR_SEARCH
            rows.append({
                "range": f"{lo:g}-{hi:g} m", "cones": int(in_bucket.sum()),
                "detected": int(detected.sum()), "located": int(located.sum()),
                "yield": share(located[detected]),
                "depth_err_median_pct": float(100 * np.median(err)) if err.size else float("nan"),
                "depth_err_p90_pct": float(100 * np.percentile(err, 90)) if err.size else float("nan"),
                "wrong": int(((err > 0.1) & (m2 > CHI2_3[2])).sum()),
                "inside_1sigma": share(m2 <= CHI2_3[0]), "inside_2sigma": share(m2 <= CHI2_3[1]),
                "searched": int(searched.sum()), "searched_share": share(searched),
                "searched_inside_1sigma": share(m2[searched] <= CHI2_3[0]),
                "searched_inside_2sigma": share(m2[searched] <= CHI2_3[1])})
        located = s["located"].astype(bool)  # every range together, by the left detection's
        by_score = [{"score": f"{lo:.2f}-{min(hi, 1.0):.2f}",  # score and by its overlap
                     **_coverage(s, located & (s["score"] >= lo) & (s["score"] < hi))}
                    for lo, hi in SCORE_BINS]
        group = overlap_bin(s["overlap"])
        by_overlap = [{"overlap": label, **_coverage(s, located & (group == k))}
                      for k, label in enumerate(OVERLAP_BINS)]
        by_type = [{"type": kind, **_coverage(s, located & (s["type"] == t))}
                   for t, kind in enumerate(CONE_TYPES)]
        result[name] = {"buckets": rows, "by_score": by_score, "by_overlap": by_overlap,
                        "by_type": by_type, "gates": gate_table(s), "counts": s["counts"]}
    return result


def gate_table(s: dict) -> list[dict]:
    """Per stereo source and GATE_RANGES bucket (0-30 m: cones farther are left out): the
    located cones, and the share of them whose squared Mahalanobis distance lies beyond each of
    GATES (``beyond_95`` ...: a calibrated Gaussian's 5 / 1 / 0.1 %)."""
    from ..core.stereo_kernel import BORDER_CUT, BOX_PAIR, EPIPOLAR_SEARCH
    located = s["located"].astype(bool)
    rows = []
    for label, code in (("box pair", BOX_PAIR), ("searched", EPIPOLAR_SEARCH),
                        ("border cut", BORDER_CUT)):
        for lo, hi in GATE_RANGES:
            m = located & (s["source"] == code) & (s["z"] >= lo) & (s["z"] < hi)
            rows.append({"source": label, "range": f"{lo:g}-{hi:g} m", "located": int(m.sum()),
                         **{f"beyond_{inside}": share(s["m2"][m] > gate)
                            for inside, gate in GATES}})
    return rows


def markdown(result: dict) -> str:
    def pct(x: float, digits: int = 0) -> str:
        return "-" if not np.isfinite(x) else f"{100 * x:.{digits}f}%"

    lines = ["| range | detector | detected | located | yield | depth err median | p90 | wrong | "
             "inside 1 / 2 sigma | searched | searched: inside 1 / 2 sigma |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for b in range(len(BUCKETS)):
        for name, r in result.items():
            row = r["buckets"][b]
            med, p90 = row["depth_err_median_pct"], row["depth_err_p90_pct"]
            lines.append(
                f"| {row['range']} | {name} | {row['detected']} | {row['located']} | "
                f"{pct(row['yield'], 1)} | {'-' if not np.isfinite(med) else f'{med:.2f}%'} | "
                f"{'-' if not np.isfinite(p90) else f'{p90:.2f}%'} | {row['wrong']} | "
                f"{pct(row['inside_1sigma'])} / {pct(row['inside_2sigma'])} | "
                f"{row['searched']} ({pct(row['searched_share'])}) | "
                f"{pct(row['searched_inside_1sigma'])} / {pct(row['searched_inside_2sigma'])} |")
    for title, key in (("detection score", "by_score"), ("overlapped by another box", "by_overlap"),
                       ("cone type", "by_type")):
        lines += ["", f"| {title} | detector | located | paired (cut included): inside 1 / 2 "
                  "sigma | searched | searched: inside 1 / 2 sigma |", "|---|---|---:|---:|---:|---:|"]
        for name, r in result.items():
            for row in r.get(key, []):
                if row["located"]:
                    lines.append(f"| {row[key[3:]]} | {name} | {row['located']} | "
                                 f"{pct(row['inside_1sigma'])} / {pct(row['inside_2sigma'])} | "
                                 f"{row['searched']} | {pct(row['searched_inside_1sigma'])} / "
                                 f"{pct(row['searched_inside_2sigma'])} |")
    lines += ["", "| source | range | detector | located | beyond the "
              + " | ".join(f"{inside} % gate (a Gaussian: {100 - float(inside):.2g} %)"
                           for inside, _ in GATES) + " |",
              "|---|---|---|---:|" + "---:|" * len(GATES)]
    for name, r in result.items():
        for row in r.get("gates", []):
            if row["located"]:
                lines.append(f"| {row['source']} | {row['range']} | {name} | {row['located']} | "
                             + " | ".join(pct(row[f"beyond_{inside}"], 1)
                                          for inside, _ in GATES) + " |")
    lines.append("")
    for name, r in result.items():
        c = r["counts"]
        lines.append(f"{name}: {c.get('pairs', 0)} box pairs, {c.get('ambiguous', 0)} ambiguous "
                     f"pairings dropped, {c.get('implausible', 0)} left boxes whose candidates "
                     f"contradicted their size, {c.get('searched', 0)} searched, "
                     f"{c.get('found_by_search', 0)} found by the search, "
                     f"{c.get('duplicate', 0)} duplicate boxes found again, "
                     f"{c.get('border_cut', 0)} cut by a border")
    return "\n".join(lines)


@guarded("stereo_accuracy")
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="stereo_accuracy", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=positive_int, default=60, help="held-out pairs (60)")
    ap.add_argument("--seed", type=int, default=500000, help="first seed (500000: held out)")
    ap.add_argument("--model", help="model for the detection rows (default: the shipped one)")
    ap.add_argument("--no-model", action="store_true", help="ground-truth boxes only")
    ap.add_argument("--json", type=output_file, help="write the figures as JSON")
    ap.add_argument("--plots", type=output_folder, metavar="DIR",
                    help="write depth_error_vs_range.png there (needs matplotlib)")
    add_randomize_arguments(ap, "scored instead of the plain world (blur, noise, JPEG, clutter, "
                            "each pair with its own camera height, pitch, roll and field of view)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    randomize = randomize_from_arguments(ap, args)
    if args.plots:
        from ..data.plots import PlotsUnavailable, require_matplotlib
        try:
            require_matplotlib()
        except PlotsUnavailable as exc:
            print(f"stereo_accuracy: {exc}", file=sys.stderr)
            return 2
    model = None
    if not args.no_model:
        from ..core.paths import demo_model_path
        model = args.model or str(demo_model_path())
    from ..core import jit
    print(jit.prepare(lambda line: print(line, file=sys.stderr)), file=sys.stderr)
    scores = score_pairs(args.pairs, args.seed, model, progress=not args.no_progress,
                         randomize=randomize)
    result = bucket_table(scores)
    print(f"{args.pairs} held-out pairs (seeds {args.seed}..{args.seed + args.pairs - 1})"
          + (f", the randomized world ({','.join(randomize.active())}, strength "
             f"{randomize.strength:g})" if randomize else "")
          + (f", model {model}" if model else ""))
    print(markdown(result))
    if args.json:
        world = ({"randomized": randomize.active(), "strength": randomize.strength}
                 if randomize else "plain")
        prepare_output(args.json).write_text(json.dumps({**result, "world": world}, indent=1))
    if args.plots:
        from ..data.plots import depth_error_figure, save
        fig = depth_error_figure({f"{name}, refined": (s["z"][s["detected"].astype(bool)],
                                                       100 * s["error"][s["detected"].astype(bool)])
                                  for name, s in scores.items()},
                                 error_label="depth error (% of range)",
                                 title="Stereo depth error against range (held-out pairs)")
        print(f"wrote {save(fig, args.plots / 'depth_error_vs_range.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
