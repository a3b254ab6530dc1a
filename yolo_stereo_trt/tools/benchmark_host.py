"""benchmark_host: host-side cost of the pipeline around the model, for a 1280x720 stereo pair.

Times each stage the node runs on the CPU besides inference (message -> array conversion,
letterbox preprocessing into the batch-2 input, decode + NMS, message building), the sum of
them, and the bare floor: resizing the two frames into the input and nothing else. Medians
over --runs after warm-up, all measured in one run; the ratio pipeline/floor says how much the
host adds beyond the unavoidable resize.
"""
from __future__ import annotations

import argparse
import time
from typing import Callable

import cv2
import numpy as np


def median_ms(fn: Callable[[], object], runs: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmark_host", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="", help="model for realistic raw outputs (default: demo model)")
    parser.add_argument("--runs", type=int, default=200, help="timed runs per stage (200)")
    args = parser.parse_args(argv)

    from std_msgs.msg import Header
    from sensor_msgs.msg import Image

    from ..backends import load_backend
    from ..core.images import array_to_image_fields, image_to_array
    from ..core.paths import demo_model_path as default_model_path
    from ..core.pipeline import StereoPipeline
    from ..core.postprocess import DecodeConfig, decode
    from ..ros.messages import cones_to_markers, cones_to_pointcloud2
    from ..core.stereo import StereoConfig, locate_cones
    from ..data.synthetic import render_pair

    scene = render_pair(4)
    pipeline = StereoPipeline(load_backend(args.model or default_model_path()))
    msgs = [Image(**array_to_image_fields(f)) for f in (scene.left, scene.right)]
    config = DecodeConfig()
    frames = [image_to_array(m.encoding, m.height, m.width, m.step, m.data)[0] for m in msgs]
    batch, geometries = pipeline.preprocess(frames)
    output = pipeline.infer(batch).copy()
    dets = decode(output, geometries, config, layout=pipeline.head)
    images = (scene.left, scene.right)
    cones = locate_cones(dets[0], dets[1], scene.camera, StereoConfig(), images=images)
    header = Header(frame_id="left")
    g = geometries[0]
    nh, nw = g.resized_hw

    def floor():
        for f in frames:
            cv2.resize(f, (nw, nh), interpolation=cv2.INTER_LINEAR)

    stages = {
        "convert (2 msgs -> arrays)": lambda: [image_to_array(m.encoding, m.height, m.width, m.step, m.data)
                                               for m in msgs],
        "preprocess (letterbox, batch)": lambda: pipeline.preprocess(frames),
        "decode + NMS + scale (2 imgs)": lambda: decode(output, geometries, config, layout=pipeline.head),
        "stereo match + refine + triangulate": lambda: locate_cones(
            dets[0], dets[1], scene.camera, StereoConfig(), images=images),
        "message building": lambda: (cones_to_pointcloud2(cones, header),
                                     cones_to_markers(cones, header, 0.5, pipeline.class_map)),
    }
    results = {name: median_ms(fn, args.runs) for name, fn in stages.items()}
    floor_ms = median_ms(floor, args.runs)
    from ..core.preprocess import Preprocessor
    uint8_pre = Preprocessor(pipeline.preprocess.input_hw, 2, "nhwc_uint8")
    uint8_ms = median_ms(lambda: uint8_pre(frames), args.runs)
    inference_ms = median_ms(lambda: pipeline.infer(batch), max(10, args.runs // 10))
    total = sum(results.values())
    print(f"host-side stages for a 1280x720 stereo pair, model input {g.dst_hw[0]}x{g.dst_hw[1]}, "
          f"{len(dets[0])}+{len(dets[1])} detections, {len(cones)} cones; median of {args.runs} runs\n")
    print("| stage | median ms |\n|---|---:|")
    for name, ms in results.items():
        print(f"| {name} | {ms:.3f} |")
    print(f"| **pipeline excluding the model** | **{total:.3f}** |")
    print(f"| floor: resize both frames only | {floor_ms:.3f} |")
    print(f"| ratio pipeline / floor | {total / floor_ms:.2f}x |")
    print(f"| (preprocess for a --uint8-input model: letterbox only) | {uint8_ms:.3f} |")
    print(f"| (model inference, {pipeline.backend.name} {pipeline.backend.device}) | {inference_ms:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
