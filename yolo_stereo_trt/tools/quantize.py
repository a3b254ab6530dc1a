"""quantize: the Q/DQ INT8 ONNX of an Ultralytics model, on the CPU.

  quantize --onnx model.onnx --calib data.yaml --out model_int8.onnx

This is the explicit-quantization model TensorRT 11 builds strongly typed (and TensorRT 10 on
request), and ONNX Runtime runs it too, so INT8 accuracy can be measured on any machine:
Conv layers only, symmetric INT8 (zero points 0), per-channel weights, biases left in float.
Calibration images (ALL of them unless --calib-max) are letterboxed by the node's own
preprocessing and batched at the model's batch. Activation ranges: the 99.999th percentile
(--method percentile, the default; with minmax, outliers set the scales of the shipped
YOLO12n: 95.3% of FP32 mAP50 kept against 99.6%; entropy 99.1%). The detection head's last
convolutions, the DFL, the first convolution and the attention blocks' positional-encoding
convolutions (16 of 120) stay in float unless --no-keep-head (on an earlier YOLO12n, minmax:
99.5% of FP32 mAP50 kept, percentile 99.5%; with the head alone in float 98.5%). By default
the result takes uint8 BGR (B,H,W,3) frames (uint8 BGR HWC -> float RGB CHW / 255 is prepended
to the network, as build_engine does); --float-input keeps the float (B,3,H,W) input. --check
builds the result with TensorRT for RTX when it is installed.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from ..core.cli import guarded, input_file_of, output_file_of, positive_int


@guarded("quantize")
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="quantize", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--onnx", type=input_file_of(".onnx"), required=True,
                    help="float ONNX (batch 2)")
    ap.add_argument("--calib", type=Path, required=True,
                    help="calibration images: a folder or a YOLO data.yaml")
    ap.add_argument("--out", type=output_file_of(".onnx"), required=True,
                    help="Q/DQ ONNX to write (.onnx)")
    ap.add_argument("--calib-split", default="val", help="data.yaml split (val)")
    ap.add_argument("--calib-max", type=positive_int, help="cap the calibration images (default: all)")
    ap.add_argument("--method", choices=("minmax", "entropy", "percentile"), default="percentile",
                    help="activation ranges from the calibration images: percentile (99.999th "
                         "of |x|; the default: on the shipped model 99.6 %% of FP32 mAP50 kept, "
                         "95.3 %% with minmax), minmax (Ultralytics' own), entropy")
    ap.add_argument("--keep-head", action=argparse.BooleanOptionalAction, default=True,
                    help="keep the detection head's last convolutions and the DFL in float, "
                         "with the first convolution and the attention positional-encoding "
                         "convolutions (default; measured on an earlier YOLO12n: 99.5%% of FP32 "
                         "mAP50 kept, 98.5%% with the head alone)")
    ap.add_argument("--float-input", dest="uint8_input", action="store_false",
                    help="keep the float32 (B,3,H,W) input (the host normalizes)")
    ap.add_argument("--uint8-input", dest="uint8_input", action="store_true", default=True,
                    help="the model takes uint8 BGR (B,H,W,3) frames and normalizes in the "
                         "network (the default)")
    ap.add_argument("--check", action="store_true",
                    help="parse and build the result with TensorRT for RTX")
    args = ap.parse_args(argv)

    import onnx

    from ..engine import onnx_graph as onnx_tools
    from ..engine.calibration import calibration_batches, list_calibration_images
    from ..engine.builder import input_hw as _input_hw, progress as _progress
    if not args.onnx.is_file():
        print(f"quantize: {args.onnx} not found", file=sys.stderr)
        return 2
    try:
        files = list_calibration_images(args.calib, args.calib_max, args.calib_split)
    except FileNotFoundError as exc:
        print(f"quantize: {exc}", file=sys.stderr)
        return 2
    model = onnx.load(str(args.onnx))
    dims = onnx_tools.input_dims(model)
    batch = dims[0] if isinstance(dims[0], int) and dims[0] > 0 else 2
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        src = args.onnx
        if args.uint8_input and onnx_tools.input_layout(model) == "nchw_float":
            model = onnx_tools.add_uint8_input(model)
            src = Path(tmp) / "uint8_input.onnx"
            onnx.save(model, str(src))
        layout = onnx_tools.input_layout(model)  # the calibration batches follow the model
        hw = _input_hw(model)
        exclude = onnx_tools.float_nodes(model) if args.keep_head else []
        print(f"calibrating on {len(files)} images from {args.calib} ({args.method}, batch "
              f"{batch}, {hw[1]}x{hw[0]}{', keeping %d head nodes in float' % len(exclude) if exclude else ''})")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        onnx_tools.quantize_qdq(src, args.out, _progress(
            calibration_batches(files, hw, batch, layout), len(files), batch), exclude,
            args.method)
    summary = onnx_tools.qdq_summary(onnx.load(str(args.out)))
    print(f"wrote {args.out} in {time.perf_counter() - start:.0f} s: "
          f"{summary['conv_int8']} INT8 convolutions, {summary['conv_float']} in float, "
          f"{summary['quantize_linear']} Q / {summary['dequantize_linear']} DQ nodes")
    if args.check:
        from ..engine.conformance import TensorRTRtxUnavailable, check_onnx
        try:
            result = check_onnx(args.out)
        except TensorRTRtxUnavailable as exc:
            print(f"check skipped: {exc}")
            return 0
        print(result)
        return 0 if result.ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
