"""benchmark_host: host-side cost of the pipeline around the model, for a 1280x720 stereo pair.

Times each stage the node runs on the CPU besides inference (message -> array conversion,
letterbox preprocessing into the batch-2 input, decode + NMS, stereo matching with sub-pixel
refinement and triangulation, message building) for a scene with about --cones located cones,
their sum, and the floor: resizing the two frames into the model input and nothing else. Medians
over --runs after warm-up, all measured in one run, the stages round-robin (each shares the caches
with the others, as in the node); the stereo stage is timed once more alone, in a loop (target
for ~20 cones: <= 0.5 ms). The ratio pipeline/floor says how much the host adds beyond the
unavoidable resize (target: <= 4x). The preprocessing is the model's own
(uint8 letterbox for a uint8-input model, which the ONNX Runtime backend makes of a float ONNX by
default; --float-input measures the host normalization instead).
"""
from __future__ import annotations

import argparse
import time
from typing import Callable

import cv2
import numpy as np

from ..core.cli import guarded, non_negative_int, positive_int


def interleaved_medians_ms(fns: dict[str, Callable[[], object]], runs: int, warmup: int = 5
                           ) -> dict[str, float]:
    """Median ms of each function, timed round-robin (one call of each per round), so that the
    load of a shared machine weighs on all of them alike and their ratios hold."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: float(np.median(t) * 1e3) for name, t in times.items()}


def median_ms(fn: Callable[[], object], runs: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e3)


@guarded("benchmark_host")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmark_host", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="", help="model for realistic raw outputs (default: demo model)")
    parser.add_argument("--runs", type=positive_int, default=200, help="timed runs per stage (200)")
    parser.add_argument("--cones", type=non_negative_int, default=15,
                        help="pick the first synthetic scene with at least this many located "
                             "cones (15)")
    parser.add_argument("--float-input", action="store_true",
                        help="ONNX models: keep the float input (host normalization)")
    args = parser.parse_args(argv)

    from types import SimpleNamespace

    from ..backends import load_backend
    from ..core.images import array_to_image_fields, image_to_array
    from ..core.paths import demo_model_path as default_model_path
    from ..core.pipeline import StereoPipeline
    from ..core.postprocess import DecodeConfig, decode
    from ..core.preprocess import Preprocessor
    from ..core.cloud import cone_points, marker_groups
    from ..core.rig import RigMonitor
    from ..core.stereo import StereoConfig, locate_cones
    from ..data.synthetic import render_pair

    pipeline = StereoPipeline(load_backend(args.model or default_model_path(),
                                           uint8_input=not args.float_input))
    config = DecodeConfig()
    best = None
    for seed in range(4, 40):  # the first scene with enough cones for this model
        scene = render_pair(seed)
        batch, geometries = pipeline.preprocess([scene.left, scene.right])
        output = pipeline.infer(batch).copy()
        dets = decode(output, geometries, config, layout=pipeline.head)
        cones = locate_cones(dets[0], dets[1], scene.camera, StereoConfig(),
                             images=(scene.left, scene.right), classes=pipeline.class_map)
        if best is None or len(cones) > best[-1]:
            best = (scene, output, geometries, dets, len(cones))
        if len(cones) >= args.cones:
            break
    scene, output, geometries, dets, _ = best
    msgs = [SimpleNamespace(**array_to_image_fields(f)) for f in (scene.left, scene.right)]  # Image's fields
    frames = [image_to_array(m.encoding, m.height, m.width, m.step, m.data)[0] for m in msgs]
    images = (scene.left, scene.right)
    cones = locate_cones(dets[0], dets[1], scene.camera, StereoConfig(), images=images,
                         classes=pipeline.class_map)
    rig = RigMonitor()
    g = geometries[0]
    nh, nw = g.resized_hw
    floor_canvas = np.full((2, *g.dst_hw, 3), 114, np.uint8)
    floor_regions = [floor_canvas[i, g.top:g.top + nh, g.left:g.left + nw] for i in range(2)]

    def floor() -> None:
        for f, region in zip(frames, floor_regions):
            cv2.resize(f, (nw, nh), dst=region, interpolation=cv2.INTER_LINEAR)

    stages = {
        "convert (2 msgs -> arrays)": lambda: [image_to_array(m.encoding, m.height, m.width, m.step, m.data)
                                               for m in msgs],
        f"preprocess ({pipeline.preprocess.layout}: letterbox"
        f"{' + normalize' if pipeline.preprocess.layout == 'nchw_float' else ''})":
            lambda: pipeline.preprocess(frames),
        "decode + NMS + scale (2 imgs)": lambda: decode(output, geometries, config,
                                                        layout=pipeline.head),
        "stereo (size prior, match, search, refine, triangulate)": lambda: locate_cones(
            dets[0], dets[1], scene.camera, StereoConfig(), images=images,
            classes=pipeline.class_map),
        # the rig monitor's per-pair bookkeeping (its fit runs once a second, off the worker)
        "rig bookkeeping (RigMonitor.add)": lambda: rig.add(cones, scene.camera),
        # the arrays the cones cloud and the markers are built from (the ROS message objects
        # themselves are measured in the node by benchmark_node's publish stage)
        "message building": lambda: (cone_points(cones).tobytes(),
                                     marker_groups(cones.xyz, cones.class_ids, pipeline.class_map)),
    }
    other = "nchw_float" if pipeline.preprocess.layout == "nhwc_uint8" else "nhwc_uint8"
    other_pre = Preprocessor(pipeline.preprocess.input_hw, 2, other)
    from ..core.stereo import refine_disparity
    pairs = cones.right_index >= 0
    li, ri = cones.left_index[pairs], cones.right_index[pairs]
    lb, rb = dets[0].boxes[li].astype(np.float64), dets[1].boxes[ri].astype(np.float64)
    box_disparity = (lb[:, 0] + lb[:, 2] - rb[:, 0] - rb[:, 2]) / 2
    results = interleaved_medians_ms(dict(
        stages, floor=floor, other=lambda: other_pre(frames),
        refine=lambda: refine_disparity(images[0], images[1], lb, box_disparity, StereoConfig())),
        args.runs)
    floor_ms, other_ms, refine_ms = results.pop("floor"), results.pop("other"), results.pop("refine")
    # the stereo stage alone, called in a loop (its frames' patches and its arrays stay in the
    # caches; the table's row shares the caches with the other stages, as in the node)
    stereo_alone_ms = median_ms(stages["stereo (size prior, match, search, refine, triangulate)"],
                                args.runs)
    inference_ms = median_ms(lambda: pipeline.infer(pipeline.preprocess.batch),
                             max(10, args.runs // 10))
    total = sum(results.values())
    print(f"host-side stages for a {scene.left.shape[1]}x{scene.left.shape[0]} stereo pair, model "
          f"input {g.dst_hw[0]}x{g.dst_hw[1]} {pipeline.preprocess.layout}, {len(dets[0])}+"
          f"{len(dets[1])} detections, {len(cones)} cones; median of {args.runs} runs\n")
    print("| stage | median ms |\n|---|---:|")
    for name, ms in results.items():
        print(f"| {name} | {ms:.3f} |")
    print(f"| **pipeline excluding the model** | **{total:.3f}** |")
    print(f"| floor: resize both frames into the input | {floor_ms:.3f} |")
    print(f"| **ratio pipeline / floor** (target <= 4x) | **{total / floor_ms:.2f}x** |")
    print(f"| (preprocess for a {other} model) | {other_ms:.3f} |")
    print(f"| (of the stereo stage: sub-pixel refinement of the {len(li)} box pairs on the BGR "
          f"frames) | {refine_ms:.3f} |")
    print(f"| (the stereo stage alone, in a loop, {len(cones)} cones; target <= 0.5) | "
          f"{stereo_alone_ms:.3f} |")
    print(f"| (model inference, {pipeline.backend.name} {pipeline.backend.device}) | {inference_ms:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
