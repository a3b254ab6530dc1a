"""A generated stand-in model: a colour-template cone detector written as a YOLO-format ONNX.

It is NOT a trained network (the shipped model is models/yolo12n_synthetic_cones.onnx). It is a
tiny, fast model with the real Ultralytics I/O contract for the tests of the ONNX tools
(quantization, uint8 input, FP16, TensorRT conformance) and for trying the tools on any shape: input ``images``
float32 [2,3,H,W] RGB in [0,1], output ``output0`` [2, 4+5, N] with N anchors over strides
8/16/32, sigmoid class scores, Ultralytics ``metadata_props``. Per anchor it compares the mean
colour of a cone-shaped window with the mean of a window twice its size (a difference of box
filters, so uniform sky and asphalt cancel and the window that fits the cone wins), and maps
blue, yellow and orange colour excess to class scores, keeping local maxima only. It finds the bright cones of the
synthetic world, nothing else; large-orange and unknown cones it never reports.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..core.classes import FSOCO_NAMES
from ..core.cli import guarded, output_file, positive_int, prepare_output

STRIDES = (8, 16, 32)
# Class logit = GAIN * (w . rgb_excess - THRESHOLD); rows: blue, yellow, orange, large orange, unknown
_WEIGHTS = np.array([[-1.0, 0.0, 1.0],     # blue: b - r
                     [-1.0, 2.0, -1.0],    # yellow: (g - b) - (r - g)
                     [1.0, -1.0, 0.0],     # orange: r - g
                     [0.0, 0.0, 0.0],
                     [0.0, 0.0, 0.0]], np.float32)
_GAIN, _THRESHOLD = 30.0, 0.15
_BIAS = np.array([-_GAIN * _THRESHOLD] * 3 + [-20.0, -20.0], np.float32)


def build_demo_model(input_hw: tuple[int, int] = (640, 640), batch: int = 2) -> onnx.ModelProto:
    h, w = input_hw
    if h % 32 or w % 32:
        raise ValueError(f"input size must be a multiple of 32, got {h}x{w}")
    nodes, inits = [], [numpy_helper.from_array((_WEIGHTS * _GAIN)[:, :, None, None], "cls_w"),
                        numpy_helper.from_array(_BIAS, "cls_b")]
    box_parts, score_parts = [], []
    for s in STRIDES:
        gh, gw = h // s, w // s
        # inner window 1.5s x 2s (w x h, a cone's aspect) and outer window twice that, both centred
        nodes.append(helper.make_node("AveragePool", ["images"], [f"in{s}"], kernel_shape=[2 * s, 3 * s // 2],
                                      strides=[s, s], pads=[s // 2, s // 4, s // 2, s // 4]))
        nodes.append(helper.make_node("AveragePool", ["images"], [f"out{s}"], kernel_shape=[4 * s, 3 * s],
                                      strides=[s, s], pads=[3 * s // 2, s, 3 * s // 2, s]))
        nodes.append(helper.make_node("Sub", [f"in{s}", f"out{s}"], [f"dog{s}"]))
        nodes.append(helper.make_node("Conv", [f"dog{s}", "cls_w", "cls_b"], [f"logit{s}"]))
        nodes.append(helper.make_node("Sigmoid", [f"logit{s}"], [f"sig{s}"]))
        # keep only local maxima of each class map (as a trained head peaks at one anchor)
        nodes.append(helper.make_node("MaxPool", [f"sig{s}"], [f"max{s}"], kernel_shape=[3, 3],
                                      strides=[1, 1], pads=[1, 1, 1, 1]))
        nodes.append(helper.make_node("Equal", [f"sig{s}", f"max{s}"], [f"peak{s}"]))
        nodes.append(helper.make_node("Cast", [f"peak{s}"], [f"peakf{s}"], to=TensorProto.FLOAT))
        nodes.append(helper.make_node("Mul", [f"sig{s}", f"peakf{s}"], [f"score{s}"]))
        inits.append(numpy_helper.from_array(np.array([batch, 5, gh * gw], np.int64), f"shape{s}"))
        nodes.append(helper.make_node("Reshape", [f"score{s}", f"shape{s}"], [f"flat{s}"]))
        gy, gx = np.mgrid[0:gh, 0:gw].astype(np.float32)
        boxes = np.stack([(gx + 0.5) * s, (gy + 0.5) * s, np.full_like(gx, 1.5 * s),
                          np.full_like(gx, 2.0 * s)]).reshape(1, 4, -1)
        inits.append(numpy_helper.from_array(np.repeat(boxes, batch, 0), f"boxes{s}"))
        box_parts.append(f"boxes{s}")
        score_parts.append(f"flat{s}")
    nodes.append(helper.make_node("Concat", box_parts, ["boxes"], axis=2))
    nodes.append(helper.make_node("Concat", score_parts, ["scores"], axis=2))
    nodes.append(helper.make_node("Concat", ["boxes", "scores"], ["output0"], axis=1))
    n = sum((h // s) * (w // s) for s in STRIDES)
    graph = helper.make_graph(
        nodes, "colour_cone_demo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, h, w])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [batch, 4 + len(FSOCO_NAMES), n])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="yolo_stereo_trt.data.standin_model")
    model.ir_version = 8
    meta = {"description": "yolo_stereo_trt colour-template demo detector (not a trained model)",
            "task": "detect", "stride": "32", "batch": str(batch), "imgsz": str([h, w]),
            "names": str(dict(enumerate(FSOCO_NAMES))), "end2end": "False"}
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    return model


def build_constant_model(output: np.ndarray, input_hw: tuple[int, int] = (640, 640),
                         names: tuple[str, ...] | list[str] = FSOCO_NAMES) -> onnx.ModelProto:
    """A nearly free model for measuring the host side: whatever the input, ``output0`` is
    ``output`` ([B, 4+nc, N], e.g. a real model's raw head output on a synthetic pair, so decode
    and stereo see realistic detections). The input is uint8 BGR [B,H,W,3], as the engines the
    car runs take it (they normalize on the GPU; here nothing needs normalizing), and it is read
    (one pixel, times zero) so that the graph stays input-dependent: inference costs
    microseconds and the host side is all that is left to measure."""
    output = np.ascontiguousarray(output, np.float32)
    batch = output.shape[0]
    h, w = input_hw
    nodes = [
        helper.make_node("Slice", ["images", "px_start", "px_end"], ["pixel_u8"]),
        helper.make_node("Cast", ["pixel_u8"], ["pixel"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["pixel", "zero"], ["nothing"]),
        helper.make_node("Reshape", ["nothing", "shape_b11"], ["nothing_b11"]),
        helper.make_node("Add", ["recorded", "nothing_b11"], ["output0"]),
    ]
    inits = [numpy_helper.from_array(np.zeros(4, np.int64), "px_start"),
             numpy_helper.from_array(np.array([batch, 1, 1, 1], np.int64), "px_end"),
             numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
             numpy_helper.from_array(np.array([batch, 1, 1], np.int64), "shape_b11"),
             numpy_helper.from_array(output, "recorded")]
    graph = helper.make_graph(
        nodes, "constant_output_standin",
        [helper.make_tensor_value_info("images", TensorProto.UINT8, [batch, h, w, 3])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(output.shape))], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="yolo_stereo_trt.constant_model")
    model.ir_version = 8
    meta = {"description": "yolo_stereo_trt constant-output stand-in (host-side benchmarks)",
            "task": "detect", "stride": "32", "batch": str(batch), "imgsz": str([h, w]),
            "names": str(dict(enumerate(names))), "end2end": "False",
            "input_format": "uint8_bgr_nhwc"}
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    return model


def recorded_output(model_path: str | Path, seed: int) -> tuple[np.ndarray, tuple[int, int], list]:
    """``model_path``'s raw output on the synthetic pair ``seed`` (1280x720), its input size and
    class names: what build_constant_model replays."""
    from ..backends import load_backend
    from ..core.pipeline import StereoPipeline
    from .synthetic import render_pair
    pipeline = StereoPipeline(load_backend(model_path, "cpu"))
    scene = render_pair(seed)
    batch, _ = pipeline.preprocess([scene.left, scene.right])
    return pipeline.infer(batch).copy(), pipeline.preprocess.input_hw, pipeline.class_names


def stride_multiple(text: str) -> int:
    """An input side the detector's stride divides: a positive multiple of 32."""
    value = positive_int(text)
    if value % 32:
        raise argparse.ArgumentTypeError(f"must be a multiple of 32, not {text}")
    return value


def onnx_output(text: str) -> Path:
    """An ONNX file to write: a name ending in .onnx (no other file is overwritten by mistake)."""
    path = output_file(text)
    if path.suffix.lower() != ".onnx":
        raise argparse.ArgumentTypeError(f"{text}: the model file's name must end in .onnx")
    return path


@guarded("make_demo_model")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make_demo_model",
                                     description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=onnx_output, default=Path("colour_cones.onnx"),
                        help="output ONNX path (colour_cones.onnx)")
    parser.add_argument("--imgsz", type=stride_multiple, nargs=2, default=[640, 640],
                        metavar=("H", "W"), help="model input size (640 640)")
    parser.add_argument("--batch", type=positive_int, default=2,
                        help="batch (2: left + right)")
    parser.add_argument("--constant-from", metavar="MODEL",
                        help="write the constant-output stand-in instead: MODEL's raw output on "
                             "synthetic pair --seed, replayed whatever the input (host benchmarks)")
    parser.add_argument("--seed", type=int, default=700,
                        help="synthetic pair for --constant-from (700: the first pair "
                             "benchmark_node publishes)")
    args = parser.parse_args(argv)
    out = prepare_output(args.out)
    if args.constant_from:
        output, hw, names = recorded_output(args.constant_from, args.seed)
        onnx.save(build_constant_model(output, hw, names), out)
        print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB): constant-output stand-in, "
              f"{args.constant_from}'s output on synthetic pair {args.seed}, input "
              f"uint8 {output.shape[0]}x{hw[0]}x{hw[1]}x3")
        return 0
    onnx.save(build_demo_model(tuple(args.imgsz), args.batch), out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB): colour-template demo model, "
          f"input {args.batch}x3x{args.imgsz[0]}x{args.imgsz[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
