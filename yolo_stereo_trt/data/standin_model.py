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
                              producer_name="yolo_stereo_trt.demo_model")
    model.ir_version = 8
    meta = {"description": "yolo_stereo_trt colour-template demo detector (not a trained model)",
            "task": "detect", "stride": "32", "batch": str(batch), "imgsz": str([h, w]),
            "names": str(dict(enumerate(FSOCO_NAMES))), "end2end": "False"}
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    return model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="colour_cones.onnx", help="output ONNX path")
    parser.add_argument("--imgsz", type=int, nargs=2, default=[640, 640], metavar=("H", "W"))
    parser.add_argument("--batch", type=int, default=2)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(build_demo_model(tuple(args.imgsz), args.batch), out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB): colour-template demo model, "
          f"input {args.batch}x3x{args.imgsz[0]}x{args.imgsz[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
