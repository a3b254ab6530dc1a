"""check_stereo_rig: is the stereo rig still calibrated? Measured from the cones themselves.

  check_stereo_rig BAG --model M [--reference REF.json] [--save-reference REF.json]
                   [--json OUT.json] [--plot OUT.png] [--left-topic T --right-topic T]
  check_stereo_rig FOLDER --model M --left-info L.yaml --right-info R.yaml [...]

Runs the node's pipeline (the same detection and stereo stage, params.yaml's settings with
--params) over a rosbag2 bag (camera_info from the bag) or over a folder of rectified image
pairs (FOLDER/left/* and FOLDER/right/*, paired by file name, with the pair's camera_info
YAMLs), and prints, from the box pairs it matches and refines, each figure with its 95 %
interval and the number of cones used:

  vertical_offset_px               right minus left rows of the same cones (median): a camera
                                   knocked up or down, rolled or pitched; needs no reference
  disparity_scale                  the line d = scale x d_size + offset through the measured
  disparity_offset_px              disparities against those the box heights predict
                                   (d_size = fx B h / (fy H), Theil-Sen)
  depth_scale_vs_reference         with --reference: reference scale / scale (1.15: every depth
                                   15 % too far: a wrong baseline or focal length)
  disparity_offset_vs_reference_px offset - reference offset (+2: every disparity 2 px too
                                   large: a yaw between the cameras or a wrong principal point)
  verdict                          ok, warn or error, with the reasons and what to do

Record a reference with --save-reference on a drive just after calibrating, with the model the
car runs (the detector's boxes set the scale and offset: docs/rig_health.md). --json writes
every figure under the names above; --plot (matplotlib) draws the measured against the
size-predicted disparity with both lines, and the row offsets.

Exit status: 0 for ok and warn, 1 for error (a script or CI job can stop on it), 2 when the
check cannot run (a missing file, an unusable model or reference).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from ..core.cli import guarded, output_file, output_file_of, prepare_output
from .evaluate_bag import add_topic_arguments

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def folder_pairs(folder: Path) -> list[tuple[Path, Path]]:
    """(left, right) image files of FOLDER/left and FOLDER/right with the same name."""
    left = {p.name: p for p in sorted((folder / "left").glob("*"))
            if p.suffix.lower() in IMAGE_SUFFIXES}
    right = {p.name: p for p in sorted((folder / "right").glob("*"))
             if p.suffix.lower() in IMAGE_SUFFIXES}
    return [(left[n], right[n]) for n in sorted(set(left) & set(right))]


def samples_from_folder(pipeline, params: dict, folder: Path, left_info: Path,
                        right_info: Path, progress: bool):
    """The rig samples of every image pair of the folder, and fx B."""
    import cv2
    from tqdm import tqdm

    from ..core.camera_info import camera_from_yaml_pair
    from ..core.params import decode_config, stereo_config
    from ..core.rig import RigSamples
    camera = camera_from_yaml_pair(left_info, right_info)
    pairs = folder_pairs(folder)
    if not pairs:
        raise ValueError(f"no image pairs in {folder}/left and {folder}/right (same file names)")
    samples = RigSamples(window=1 << 20)
    for left_path, right_path in tqdm(pairs, desc="pairs", unit="pair", disable=not progress):
        left, right = (cv2.imread(str(p), cv2.IMREAD_COLOR) for p in (left_path, right_path))
        if left is None or right is None:
            raise ValueError(f"cannot read {left_path} or {right_path}")
        if (left.shape[1], left.shape[0]) != (camera.width, camera.height):
            raise ValueError(f"{left_path.name} is {left.shape[1]}x{left.shape[0]}, the "
                             f"camera_info {camera.width}x{camera.height}")
        result = pipeline.process(left, right, decode_config(params), camera,
                                  stereo_config(params))
        samples.add(result.located, camera)
    return samples, camera.fx * camera.baseline, len(pairs)


def samples_from_bag(pipeline, params: dict, bag: Path, progress: bool, args):
    """The rig samples of the bag's pairs (the node's pairing and calibration rules), fx B;
    the image topics as evaluate_bag chooses them (``args``: the named ones, --transport, the
    params file's image_transport)."""
    from ..core.params import car_geometry, decode_config, stereo_config
    from ..data.bag_eval import BagEvaluation, EvalOptions, topics_from_arguments
    from ..data.bags import BagSource
    with BagSource(bag) as source, tempfile.TemporaryDirectory() as out:
        topics, note = topics_from_arguments(
            source.topics, args, params["image_transport"] if args.params else None)
        if note:
            print(f"check_stereo_rig: {note}", file=sys.stderr)
        if not (topics.left_info and topics.right_info):
            raise ValueError(f"{bag} has no camera_info for both cameras: the rig needs the "
                             f"calibration the node uses")
        options = EvalOptions(
            decode=decode_config(params), stereo=stereo_config(params),
            baseline_range=(params["min_baseline"], params["max_baseline"]),
            geometry=car_geometry(params), sync_slop_s=params["sync_slop"],
            sync_queue_size=params["sync_queue_size"], debug_image=False, birdseye=False,
            progress=progress)
        evaluation = BagEvaluation(pipeline, topics, Path(out), options, None)
        summary = evaluation.run(source)
        camera, _ = evaluation.calibration.camera()
    return evaluation.rig, camera.fx * camera.baseline if camera else None, summary["processed"]


def print_report(rep: dict, pairs: int, reference: bool, min_cones: int) -> None:
    """The figures as lines; ``reference``: one was given (a figure against it is missing where
    the drive had fewer than ``min_cones`` matched cones, or cones of one size: the reasons)."""
    missing = ("- (no --reference)" if not reference else
               f"- (fewer than {min_cones} matched cones)" if rep["cones"] < min_cones else
               "- (the scale could not be fitted: the reason below)")

    def ci(name: str, fmt: str) -> str:
        value, interval = rep[name], rep.get(f"{name}_ci95")
        if value is None:
            return "-"
        return (f"{format(value, fmt)}  (95 %: {format(interval[0], fmt)} .. "
                f"{format(interval[1], fmt)})" if interval else format(value, fmt))
    print(f"{pairs} pairs, {rep['cones']} matched cones")
    print(f"  vertical_offset_px                {ci('vertical_offset_px', '+.3f')}")
    print(f"  disparity_scale                   {ci('disparity_scale', '.4f')}")
    print(f"  disparity_offset_px               {ci('disparity_offset_px', '+.3f')}")
    for name, fmt in (("depth_scale_vs_reference", ".4f"),
                      ("disparity_offset_vs_reference_px", "+.3f")):
        value = rep[name]
        print(f"  {name:<33} {missing if value is None else format(value, fmt)}")
    print(f"verdict: {rep['verdict']}")
    for reason in rep["reasons"]:
        print(f"  reason: {reason}")
    for advice in rep["advice"]:
        print(f"  do: {advice}")


@guarded("check_stereo_rig")
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="check_stereo_rig", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", type=Path, help="rosbag2 bag (folder, .mcap, .db3) or a folder "
                    "with left/ and right/ image pairs")
    ap.add_argument("--model", type=Path, required=True,
                    help="the car's model (.onnx, .engine): the rig figures are read from its "
                    "boxes, so record the reference with the model the car runs")
    ap.add_argument("--params", type=Path, help="the node's params.yaml (thresholds, stereo)")
    ap.add_argument("--left-info", type=Path, help="left camera_info YAML (folder of pairs)")
    ap.add_argument("--right-info", type=Path, help="right camera_info YAML (folder of pairs)")
    add_topic_arguments(ap)
    ap.add_argument("--reference", type=Path, help="judge scale and offset against this")
    ap.add_argument("--save-reference", type=output_file,
                    help="store this drive's fit as a reference")
    ap.add_argument("--json", type=output_file, help="write every figure as JSON")
    ap.add_argument("--plot", type=output_file_of(".png", ".pdf", ".svg"),
                    help="write the disparity and row-offset plot (.png, .pdf or .svg)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)

    def fail(message: str) -> int:
        print(f"check_stereo_rig: {message}", file=sys.stderr)
        return 2
    if not args.source.exists():
        return fail(f"{args.source} does not exist")
    folder = args.source.is_dir() and (args.source / "left").is_dir()
    if folder and not (args.left_info and args.right_info):
        return fail("a folder of image pairs needs --left-info and --right-info (camera_info "
                    "YAMLs of the rectified pair)")
    if args.plot:
        from ..data.plots import PlotsUnavailable, require_matplotlib
        try:
            require_matplotlib()
        except PlotsUnavailable as exc:
            return fail(str(exc))
    from ..backends import ModelLoadError, load_pipeline
    from ..core import jit
    from ..core.params import ConfigError, rig_thresholds, validate
    from ..core.rig import RigReferenceError, fit_rig, judge, load_reference, report, \
        save_reference
    from .evaluate_bag import load_params, load_params_defaults
    try:
        params = load_params(args.params) if args.params else load_params_defaults()
        pipeline, _ = load_pipeline(args.model, params["device"], params["class_names"],
                                    params["class_types"], params["head_format"])
        reason = validate({**params, "model_path": str(args.model)}, len(pipeline.class_names))
        if reason:
            raise ConfigError(reason)
        reference = load_reference(args.reference) if args.reference else None
        thresholds = rig_thresholds(params)
    except (ConfigError, ModelLoadError, RigReferenceError, ValueError) as exc:
        return fail(str(exc).splitlines()[0])
    print(jit.prepare(lambda line: print(line, file=sys.stderr)), file=sys.stderr)
    try:
        if folder:
            samples, fx_b, pairs = samples_from_folder(pipeline, params, args.source,
                                                       args.left_info, args.right_info,
                                                       not args.no_progress)
        else:
            samples, fx_b, pairs = samples_from_bag(pipeline, params, args.source,
                                                    not args.no_progress, args)
    except (OSError, ValueError, RuntimeError) as exc:
        return fail(str(exc).splitlines()[0])
    x = samples.data[:samples.filled]
    fit = fit_rig(x[:, 0], x[:, 1], x[:, 2])
    rep = report(fit, judge(fit, reference, thresholds, fx_b))
    print_report(rep, pairs, reference is not None, thresholds.min_cones)
    if args.save_reference:
        if fit is None or fit.cones < thresholds.min_cones:
            return fail(f"not saving a reference from {fit.cones if fit else 0} cones (needs "
                        f"{thresholds.min_cones}): use a longer drive")
        saved = save_reference(fit, prepare_output(args.save_reference),
                               f"{args.source}, {args.model}")
        print(f"wrote {saved}")
    if args.json:
        prepare_output(args.json).write_text(json.dumps(rep, indent=1))
        print(f"wrote {args.json}")
    if args.plot:
        from ..data.plots import rig_figure, save
        print(f"wrote {save(rig_figure(x, fit, reference), prepare_output(args.plot))}")
    return 1 if rep["verdict"] == "error" else 0


if __name__ == "__main__":
    sys.exit(main())
