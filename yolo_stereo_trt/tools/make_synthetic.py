"""make_synthetic: rectified stereo pairs of Formula Student track scenes with exact ground truth.

Writes into --out:
  images/SPLIT/NNNNN_left.jpg, NNNNN_right.jpg   labels/SPLIT/*.txt (YOLO: cls cx cy w h)
  data.yaml                                      the splits present, the five FSOCO names
  ground_truth_SPLIT.json                        per pair: stamp, seed, every cone's 3D position
                                                 (left optical frame), class, boxes, visibility
  SPLIT_mcap/, SPLIT_sqlite3/                    rosbag2 files (--bag), with the same stamps

Pair i is rendered from seed (--seed + i): the same arguments give the same files.

--randomize renders the randomized world (data/synthetic_randomize.py: ground materials,
track-side clutter, people, the car's bodywork, cone wear, camera pose and field of view,
optics, overlays, orange cones as events place them and their looks, cone-coloured base
skirts), for training a detector that transfers to real tracks; labels and ground truth stay
exact. `--randomize all,-orange,-skirts`: without the orange cones events place and the
base skirts. Training data:
  make_synthetic --out DIR --pairs N --seed S --split train --no-bag --randomize --workers 16
"""
from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import shutil
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from ..core.classes import FSOCO_NAMES
from ..core.cli import guarded, output_folder, positive_float, positive_int
from ..core.stereo import StereoCamera
from ..data.synthetic import StereoScene, default_camera, projection_matrices, render_pair
from ..data.synthetic_randomize import Randomize
from ..data.synthetic_randomize import add_arguments as add_randomize_arguments
from ..data.synthetic_randomize import from_arguments as randomize_from_arguments


def field_of_view(text: str) -> float:
    """A pinhole camera's horizontal field of view in degrees: 20-170 (at 180 its focal
    length reaches 0, beyond it turns negative)."""
    value = positive_float(text)
    if not 20.0 <= value <= 170.0:
        raise argparse.ArgumentTypeError(f"must be 20-170 degrees, not {text}")
    return value


_CAMERA: StereoCamera | None = None
_RANDOMIZE: Randomize | None = None


def _render(seed: int) -> StereoScene:
    return render_pair(seed, _CAMERA, randomize=_RANDOMIZE)


def _init(camera: StereoCamera, randomize: Randomize | None) -> None:
    global _CAMERA, _RANDOMIZE
    _CAMERA = camera
    _RANDOMIZE = randomize


def _init_worker(camera: StereoCamera, randomize: Randomize | None) -> None:
    """A pool worker: Ctrl-C is the parent's to handle (it ends the pool); a worker that died
    of it took its pair with it and the parent waited for that pair forever."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _init(camera, randomize)


def _in_short_waits(results) -> Any:
    """A Pool.imap iterator's items, waited for in short steps: a wait without a timeout is
    not woken by a signal another thread received, so Ctrl-C hung the parent."""
    while True:
        try:
            yield results.next(timeout=0.2)
        except mp.TimeoutError:
            continue
        except StopIteration:
            return


def yolo_label_lines(class_ids: np.ndarray, boxes: np.ndarray, width: int, height: int) -> str:
    """YOLO label text: one `cls cx cy w h` line per box, normalized to the image size."""
    cx = (boxes[:, 0] + boxes[:, 2]) / 2 / width
    cy = (boxes[:, 1] + boxes[:, 3]) / 2 / height
    w = (boxes[:, 2] - boxes[:, 0]) / width
    h = (boxes[:, 3] - boxes[:, 1]) / height
    return "".join(f"{int(c)} {a:.6f} {b:.6f} {d:.6f} {e:.6f}\n"
                   for c, a, b, d, e in zip(class_ids, cx, cy, w, h))


def scene_record(scene: StereoScene, index: int, seed: int, stamp_ns: int,
                 randomized: bool = False) -> dict:
    cones = [{"class_id": int(c), "xyz": [round(float(v), 5) for v in scene.xyz[i]],
              "box_left": [round(float(v), 2) for v in scene.boxes_left[i]],
              "box_right": [round(float(v), 2) for v in scene.boxes_right[i]],
              "visible_left": [round(float(v), 2) for v in scene.visible_left[i]],
              "visible_right": [round(float(v), 2) for v in scene.visible_right[i]],
              "visibility": [round(float(v), 3) for v in scene.visibility[i]]}
             for i, c in enumerate(scene.class_ids)]
    record = {"index": index, "seed": seed, "stamp_ns": stamp_ns,
              "row_offset": round(scene.row_offset, 4), "cones": cones}
    if randomized:  # the pair's own camera (field of view and pose vary)
        cam = scene.camera
        record["camera"] = {"fx": cam.fx, "fy": cam.fy, "cx": cam.cx, "cy": cam.cy,
                            "height": round(scene.camera_height, 5),
                            "rotation": [round(float(v), 7)
                                         for v in np.ravel(scene.camera_rotation)]}
    return record


def write_data_yaml(out: Path) -> Path:
    splits = {d.name: f"images/{d.name}" for d in sorted((out / "images").iterdir())
              if d.is_dir()}
    if "val" not in splits and splits:  # Ultralytics needs a val entry
        splits["val"] = next(iter(splits.values()))
    data = {**splits, "nc": len(FSOCO_NAMES), "names": dict(enumerate(FSOCO_NAMES))}
    path = out / "data.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@guarded("make_synthetic")
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="make_synthetic", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=output_folder, required=True, help="output folder")
    ap.add_argument("--pairs", type=positive_int, default=100, help="stereo pairs (default 100)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the first pair (default 0)")
    ap.add_argument("--split", default="train", help="dataset split name (default train)")
    ap.add_argument("--no-images", action="store_true", help="write no YOLO dataset")
    ap.add_argument("--bag", default="", help="comma-separated rosbag2 storages: mcap,sqlite3")
    ap.add_argument("--no-bag", action="store_true", help="write no rosbag2 files (the default "
                    "unless --bag is given; for training data)")
    add_randomize_arguments(ap, "rendered instead of the plain world")
    ap.add_argument("--no-compressed", action="store_true",
                    help="bags without the .../compressed topics")
    ap.add_argument("--rate", type=positive_float, default=10.0, help="pairs per second in bags (10)")
    ap.add_argument("--width", type=positive_int, default=1280, help="image width (1280)")
    ap.add_argument("--height", type=positive_int, default=720, help="image height (720)")
    ap.add_argument("--hfov", type=field_of_view, default=90.0,
                    help="horizontal field of view (deg, 20-170; 90)")
    ap.add_argument("--baseline", type=positive_float, default=0.12, help="stereo baseline (m)")
    ap.add_argument("--workers", type=positive_int, default=min(4, mp.cpu_count()),
                    help="rendering processes")
    args = ap.parse_args(argv)
    storages = [s for s in args.bag.split(",") if s]
    if bad := [s for s in storages if s not in ("mcap", "sqlite3")]:
        ap.error(f"--bag: unknown storage {bad} (mcap, sqlite3)")
    if args.no_bag and storages:
        ap.error("--no-bag and --bag exclude each other")
    randomize = randomize_from_arguments(ap, args)
    if randomize is not None and randomize.camera and storages:
        ap.error("--bag needs one fixed camera_info: use --randomize all,-camera for bags")
    camera = default_camera(args.width, args.height, args.baseline, args.hfov)
    out: Path = args.out
    bag_paths = [out / f"{args.split}_{s}" for s in storages]
    if existing := [str(p) for p in bag_paths if p.exists()]:
        print(f"make_synthetic: {', '.join(existing)} exists; remove it first", file=sys.stderr)
        return 2
    from tqdm import tqdm

    from ..data.bags import StereoBagWriter
    img_dir, lbl_dir = out / "images" / args.split, out / "labels" / args.split
    if not args.no_images:
        img_dir.mkdir(parents=True, exist_ok=True)
        lbl_dir.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    writers = [StereoBagWriter(p, s, not args.no_compressed) for p, s in zip(bag_paths, storages)]
    p_left, p_right = projection_matrices(camera)
    records = []
    start_ns = 1_700_000_000 * 10**9
    seeds = [args.seed + i for i in range(args.pairs)]
    # Workers start from a clean server process, never forked from this one: a caller that
    # already runs threads (DDS, ONNX Runtime, OpenCV pools: a test run, a node) cannot be
    # forked safely (measured: a worker segfaulted in the garbage collector and the pool hung).
    # One worker renders in this process.
    try:  # an interrupted run leaves no half-written bag (a re-run refuses an existing one)
        with contextlib.ExitStack() as stack:
            if args.workers == 1:
                _init(camera, randomize)
                scenes: Any = map(_render, seeds)
            else:
                ctx = mp.get_context("forkserver")
                pool = stack.enter_context(ctx.Pool(args.workers, initializer=_init_worker,
                                                    initargs=(camera, randomize)))
                scenes = _in_short_waits(pool.imap(_render, seeds))
            for i, scene in enumerate(tqdm(scenes, total=args.pairs, desc="rendering pairs",
                                           unit="pair", disable=None)):
                stamp = start_ns + int(round(i * 1e9 / args.rate))
                records.append(scene_record(scene, i, seeds[i], stamp, randomize is not None))
                if not args.no_images:
                    for view, name in ((0, "left"), (1, "right")):
                        stem = f"{i:05d}_{name}"
                        cv2.imwrite(str(img_dir / f"{stem}.jpg"), (scene.left, scene.right)[view],
                                    [cv2.IMWRITE_JPEG_QUALITY, 93])
                        cls, boxes = scene.labels(view)
                        (lbl_dir / f"{stem}.txt").write_text(
                            yolo_label_lines(cls, boxes, camera.width, camera.height))
                for w in writers:
                    w.write_pair(stamp, scene.left, scene.right, p_left, p_right)
    except BaseException:
        for w in writers:
            try:
                w.close()
            except Exception:  # noqa: BLE001  (the bag is removed anyway)
                pass
        for path in bag_paths:
            shutil.rmtree(path, ignore_errors=True)
        if bag_paths:
            print(f"make_synthetic: removed the unfinished bag(s) "
                  f"{', '.join(str(p) for p in bag_paths)}", file=sys.stderr, flush=True)
        raise
    for w in writers:
        w.close()
    gt = {"camera": {"fx": camera.fx, "fy": camera.fy, "cx": camera.cx, "cy": camera.cy,
                     "baseline": camera.baseline, "width": camera.width,
                     "height": camera.height, "p_left": p_left, "p_right": p_right},
          "names": list(FSOCO_NAMES), "split": args.split,
          "randomize": None if randomize is None else {"switches": randomize.active(),
                                                       "strength": randomize.strength},
          "pairs": records}
    gt_path = out / f"ground_truth_{args.split}.json"
    gt_path.write_text(json.dumps(gt))
    if not args.no_images:
        write_data_yaml(out)
    n_cones = sum(len(r["cones"]) for r in records)
    print(f"wrote {args.pairs} pairs ({n_cones} cones) to {out}: "
          f"{'dataset ' + str(img_dir) + ', ' if not args.no_images else ''}"
          f"{''.join(str(p) + ', ' for p in bag_paths)}ground truth {gt_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
