"""evaluate_bag: every stereo pair of a recorded bag through the node's pipeline, offline.

  evaluate_bag BAG --model M --out DIR [--left-topic T] [--right-topic T]
               [--left-info-topic T] [--right-info-topic T] [--start S] [--duration D]
               [--conf C] [--params params.yaml] [--plots]

Reads a rosbag2 (MCAP or sqlite3; a folder or one .mcap/.db3 file; raw or compressed images;
camera_info when present), pairs left/right by header stamp with the node's rules (sync_slop,
sync_queue_size from --params), runs every pair (none dropped) and writes into DIR:
  detections.mcap  the node's topics at the inputs' times: cones (PointCloud2), cone_markers,
                   detections/left|right (vision_msgs), debug_image[/compressed], and
                   birdseye[/compressed]: each pair's cones from above (1-sigma ellipses, the
                   ground truth as hollow circles when known), to scrub in Foxglove
  frames.csv       one row per pair: stamp, detections per side and class, cones, nearest
                   cone, per-stage ms
  summary.json     frames, pairs, unpaired, errors, detections per class, cones, latency
                   p50/p90/p99 per stage, the model; with make_synthetic's ground truth
                   (ground_truth_SPLIT.json beside the bag, or --ground-truth): precision,
                   recall, mAP50 per class and range bucket, 3D error per range bucket
  plots/*.png      with --plots (needs matplotlib): depth error against range (with ground
                   truth), cones per frame over the bag's time with the stale/failed/rejected
                   counters, latency per stage, detections per class
Exit status: 0 when at least one pair was processed, 1 when none could be, 2 for bad
arguments (several candidate topics, a missing topic, an unreadable params file or model).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from ..core.cli import fraction, guarded, output_folder, positive_float

NODE = "stereo_detector"


def load_params(path: Path) -> dict[str, Any]:
    """The node's parameters from a ROS 2 params file (``/**: ros__parameters:`` as the shipped
    config/params.yaml has it, or under the node's name, namespaced or not), over the node's
    defaults; unknown names are an error, as they would be for the node."""
    from ..core.params import BY_NAME, unknown_parameters
    try:
        doc = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read params file {path}: {exc}") from exc
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: not a ROS 2 params file")
    values = {name: spec.default for name, spec in BY_NAME.items()}
    sections = [v for k, v in doc.items() if k == "/**"] + \
        [v for k, v in doc.items() if k != "/**" and str(k).rstrip("/").endswith(NODE)]
    if not sections:
        raise ValueError(f"{path}: no '/**:' or '{NODE}:' section (with ros__parameters:)")
    for section in sections:
        given = (section or {}).get("ros__parameters") or {}
        unknown = unknown_parameters(list(given))  # the node's rule
        if unknown:
            raise ValueError(f"{path}: unknown parameter {unknown[0]}")
        values.update({k: (float(v) if isinstance(BY_NAME[k].default, float)
                           and isinstance(v, int) and not isinstance(v, bool) else v)
                       for k, v in given.items() if k in BY_NAME})
    return values


def add_topic_arguments(ap) -> None:
    """The bag's topics as evaluate_bag and check_stereo_rig take them (argparse)."""
    ap.add_argument("--left-topic", help="the left image topic (default: the node's names under "
                    "any namespace; the other side follows by name)")
    ap.add_argument("--right-topic")
    ap.add_argument("--left-info-topic")
    ap.add_argument("--right-info-topic")
    ap.add_argument("--transport", choices=("auto", "raw", "compressed"),
                    help="image topics to look for when none is named (default: auto, the "
                         "params file's image_transport (raw without --params) where the bag "
                         "has it, else the other)")


@guarded("evaluate_bag")
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="evaluate_bag", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bag", type=Path, help="rosbag2 folder, .mcap or .db3 file")
    ap.add_argument("--model", type=Path, required=True, help=".onnx or .engine")
    ap.add_argument("--out", type=output_folder, required=True, help="output folder")
    add_topic_arguments(ap)
    ap.add_argument("--start", type=float, default=0.0, help="seconds into the bag (0)")
    ap.add_argument("--duration", type=positive_float,
                    help="seconds of the bag to evaluate (all)")
    ap.add_argument("--conf", type=fraction, help="confidence threshold (default: params, 0.25)")
    ap.add_argument("--params", type=Path, help="the node's params.yaml")
    ap.add_argument("--ground-truth", type=Path,
                    help="make_synthetic's ground_truth_SPLIT.json (default: found beside the bag)")
    ap.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None,
                    help="ONNX Runtime device (default: params, auto)")
    ap.add_argument("--compress-debug", action="store_true",
                    help="debug_image as JPEG (debug_image/compressed)")
    ap.add_argument("--no-debug-image", action="store_true", help="do not record debug_image")
    ap.add_argument("--no-birdseye", action="store_true",
                    help="do not record the bird's-eye view (birdseye)")
    ap.add_argument("--plots", action="store_true",
                    help="write PNG plots into OUT/plots (needs matplotlib)")
    ap.add_argument("--rig-reference", type=Path,
                    help="judge the rig's disparity scale and offset against this reference "
                         "(check_stereo_rig --save-reference; default: params' rig_reference)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)

    from ..backends import ModelLoadError, load_pipeline
    from ..core import jit
    from ..core.params import (ConfigError, car_geometry, decode_config, rig_reference,
                                  rig_thresholds, stereo_config, validate)
    from ..data.bag_eval import (DEFAULT_MAX_IMAGE_PIXELS, BagEvaluation, EvalOptions,
                                 TopicChoiceError, find_ground_truth, format_summary,
                                 topics_from_arguments, write_summary)
    from ..data.bags import BagReadError, BagSource

    def fail(message: str, status: int = 2) -> int:
        print(f"evaluate_bag: {' '.join(message.split())}", file=sys.stderr)  # one line
        return status

    if not args.bag.exists():
        return fail(f"{args.bag} not found")
    if args.start < 0:
        return fail("--start must be >= 0")
    if args.plots:  # said before the bag is read, not after the evaluation
        from ..data.plots import PlotsUnavailable, require_matplotlib
        try:
            require_matplotlib()
        except PlotsUnavailable as exc:
            return fail(f"--plots: {exc}")
    try:
        params = load_params(args.params) if args.params else load_params_defaults()
    except ValueError as exc:
        return fail(str(exc))
    gt_path = args.ground_truth or find_ground_truth(args.bag)
    ground_truth = None
    if gt_path is not None:
        try:
            ground_truth = json.loads(Path(gt_path).read_text())
        except (OSError, ValueError) as exc:
            return fail(f"cannot read ground truth {gt_path}: {exc}")
    try:
        source = BagSource(args.bag)
    except BagReadError as exc:
        return fail(str(exc), 1)  # a bag that cannot be read: no pair could be processed
    with source:
        try:
            topics, note = topics_from_arguments(
                source.topics, args, params["image_transport"] if args.params else None)
        except TopicChoiceError as exc:
            return fail(str(exc))
        if note:
            print(f"evaluate_bag: {note}", file=sys.stderr)
        try:
            pipeline, model_summary = load_pipeline(args.model, args.device or params["device"],
                                        params["class_names"], params["class_types"],
                                        params["head_format"])
        except (ModelLoadError, ValueError) as exc:
            return fail(f"cannot load the model: {exc}")
        if args.conf is not None:
            params["conf_threshold"] = args.conf
        reason = validate({**params, "model_path": str(args.model)}, len(pipeline.class_names))
        try:  # the node's rules: what the node would refuse at start is refused here
            if reason:
                raise ConfigError(reason)
            geometry = car_geometry(params)
            if args.rig_reference:
                params["rig_reference"] = str(args.rig_reference)
            reference, thresholds = rig_reference(params), rig_thresholds(params)
        except ConfigError as exc:
            pipeline.close()
            return fail(f"invalid parameters: {exc}")
        options = EvalOptions(
            decode=decode_config(params), stereo=stereo_config(params),
            baseline_range=(params["min_baseline"], params["max_baseline"]),
            geometry=geometry,
            sync_slop_s=params["sync_slop"], sync_queue_size=params["sync_queue_size"],
            marker_lifetime_s=params["marker_lifetime"],
            max_image_pixels=params.get("max_image_pixels", DEFAULT_MAX_IMAGE_PIXELS),
            start_s=args.start, duration_s=args.duration,
            debug_image=not args.no_debug_image, compress_debug=args.compress_debug,
            rig_reference=reference, rig_thresholds=thresholds,
            birdseye=not args.no_birdseye, progress=not args.no_progress)
        # compiled before the first pair, so that the first pair's stage timings are its own
        print(jit.prepare(lambda line: print(line, file=sys.stderr)), file=sys.stderr)
        infos = f"{topics.left_info} + {topics.right_info}" \
            if topics.left_info and topics.right_info else "missing: 2D only, no cones"
        print(f"{args.bag}: {topics.left or '(no left images)'} + "
              f"{topics.right or '(no right images)'} "
              f"({topics.transport}), camera_info {infos}"
              f"{', ground truth ' + str(gt_path) if ground_truth else ''}", file=sys.stderr)
        try:
            evaluation = BagEvaluation(pipeline, topics, args.out, options, ground_truth)
            summary = evaluation.run(source)
        finally:
            pipeline.close()
    backend, info = pipeline.backend, pipeline.backend.info
    summary["model"] = {"path": str(args.model), "summary": model_summary,
                        "class_map": pipeline.class_map.describe(), "backend": backend.name,
                        "device": backend.device, "precision": info.precision,
                        "input": [backend.input.batch, *backend.input.hw],
                        "class_names": list(pipeline.class_names),
                        "metadata": {"imgsz": info.imgsz, "batch": info.batch,
                                     "end2end": info.end2end, **{k: str(v) for k, v in
                                                                 info.extra.items()}}}
    summary["config"] = {"conf_threshold": options.decode.conf_threshold,
                         "iou_threshold": options.decode.iou_threshold,
                         "sync_slop": options.sync_slop_s,
                         "sync_queue_size": options.sync_queue_size,
                         "params": str(args.params) if args.params else None,
                         "ground_truth": str(gt_path) if ground_truth else None}
    path = write_summary(summary, args.out)
    for note in summary["notes"]:
        print(f"note: {note}", file=sys.stderr)
    print(format_summary(summary))
    print(f"\nwrote {args.out / 'detections.mcap'}, {args.out / 'frames.csv'}, {path}")
    if args.plots:
        from ..data.plots import bag_figures, write_figures
        dets = summary["detections_per_class"]
        figures = bag_figures(evaluation.rows, evaluation.latency,
                              {"left": dets["left"], "right": dets["right"],
                               "cones": summary["cones"]["per_class"]},
                              evaluation.depth_errors(), bag=args.bag.name)
        paths = write_figures(figures, args.out / "plots")
        print(f"plots: {', '.join(str(p) for p in paths) or 'none (no pair processed)'}")
    if summary["processed"] == 0:
        return fail(f"no pair could be processed ({summary['frames_left']} left and "
                    f"{summary['frames_right']} right frames, {summary['pairs']} pairs)", 1)
    return 0


def load_params_defaults() -> dict[str, Any]:
    from ..core.params import BY_NAME
    return {name: spec.default for name, spec in BY_NAME.items()}


if __name__ == "__main__":
    sys.exit(main())
