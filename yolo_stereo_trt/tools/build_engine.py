"""build_engine: a batch-2 TensorRT engine from an Ultralytics ONNX, FP32 / FP16 / INT8.

  build_engine --onnx model.onnx --out model.engine --precision int8 --calib data.yaml

INT8 follows the installed TensorRT (--int8-path forces it):
  TensorRT 10  implicit: Entropy-2 (default) or MinMax (Ultralytics' choice) calibrator over ALL
               the calibration images (--calib-max caps), a calibration cache reused until the model,
               the preprocessing or the images change; --fp16-fallback lets non-INT8 layers run
               in FP16 (the team's half=True).
  TensorRT 11  explicit: a Q/DQ ONNX first (the `quantize` tool's: Conv only, symmetric INT8,
               per-channel weights, float biases, 99.999th-percentile activation ranges), then
               a strongly typed build. Implicit INT8
               and BuilderFlag.FP16 do not exist there; FP16 means an FP16 ONNX (converted here).
Calibration images are letterboxed by the node's own preprocessing and batched at the engine's
batch. By default the engine takes the letterboxed uint8 BGR frames (B,H,W,3) and does BGR->RGB,
/255 and HWC->CHW on the GPU (a quarter of the bytes over PCIe, no float work on the host);
--float-input keeps the ONNX's float (B,3,H,W) input. The engine file gets the Ultralytics metadata header (names, imgsz, batch) plus the
precision, calibration summary, TensorRT version and GPU, unless --no-header.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.cli import guarded, output_file, positive_float, positive_int
from ..engine.builder import BuildError, build
from ..engine.plan import make_plan


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="build_engine", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--onnx", type=Path, required=True, help="Ultralytics ONNX (batch 2 or dynamic)")
    ap.add_argument("--out", type=output_file, required=True,
                    help="engine file to write (.engine)")
    ap.add_argument("--precision", choices=("fp32", "fp16", "int8"), default="fp16",
                    help="fp16 (default), fp32, or int8 (needs --calib)")
    ap.add_argument("--calib", type=Path, help="INT8 calibration images: a folder or data.yaml")
    ap.add_argument("--calib-split", default="val", help="data.yaml split to use (val)")
    ap.add_argument("--calib-max", type=positive_int,
                    help="cap the calibration images (default: all)")
    ap.add_argument("--calib-method", choices=("entropy", "minmax"), default="entropy",
                    help="implicit INT8 calibrator: Entropy-2 (default: its Q/DQ analogue kept "
                         "99.1%% of the shipped model's FP32 mAP50, MinMax 95.3%%) or MinMax "
                         "(Ultralytics' choice)")
    ap.add_argument("--calib-cache", type=output_file,
                    help="calibration cache (default OUT.calib)")
    ap.add_argument("--int8-path", choices=("auto", "implicit", "explicit"), default="auto",
                    help="implicit calibrator (TensorRT 10) or explicit Q/DQ (TensorRT 11)")
    ap.add_argument("--keep-head", action=argparse.BooleanOptionalAction, default=True,
                    help="explicit INT8: keep the detection head's last convolutions, the DFL, "
                         "the first conv and the attention pe convs in float (default)")
    ap.add_argument("--batch", type=positive_int, default=2,
                    help="engine batch (2 = left + right)")
    ap.add_argument("--workspace", type=positive_float, default=4.0,
                    help="builder workspace, GiB (4)")
    ap.add_argument("--timing-cache", type=output_file,
                    help="timing cache file, read and updated")
    ap.add_argument("--fp16-fallback", action="store_true",
                    help="INT8: let layers that stay out of INT8 run in FP16 (TensorRT 10)")
    ap.add_argument("--float-input", dest="uint8_input", action="store_false",
                    help="keep the ONNX's float32 (B,3,H,W) input: the host normalizes (the "
                         "engines before uint8 became the default; the node loads both)")
    ap.add_argument("--uint8-input", dest="uint8_input", action="store_true", default=True,
                    help="the engine takes the letterboxed uint8 BGR (B,H,W,3) frames and "
                         "normalizes on the GPU (the default)")
    ap.add_argument("--no-header", action="store_true", help="write a plain engine (no metadata)")
    return ap


@guarded("build_engine")
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..backends.tensorrt_backend import import_tensorrt
    from ..backends.base import ModelLoadError
    if not args.onnx.is_file():
        print(f"build_engine: {args.onnx} not found", file=sys.stderr)
        return 2
    if args.precision == "int8" and args.calib is None:
        print("build_engine: --precision int8 needs --calib (a folder of images or a data.yaml)",
              file=sys.stderr)
        return 2
    try:
        import_tensorrt()
    except ModelLoadError as exc:
        print(f"build_engine: {exc}", file=sys.stderr)
        return 2
    import tensorrt as trt
    plan = make_plan(args.precision, trt.__version__,
                     None if args.int8_path == "auto" else args.int8_path,
                     args.fp16_fallback, args.uint8_input)
    for note in plan.notes:
        print(f"note: {note}")
    try:
        return build(args, plan)
    except (BuildError, ValueError, FileNotFoundError) as exc:
        print(f"build_engine: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
