"""build_engine: a batch-2 TensorRT engine from an Ultralytics ONNX, FP32 / FP16 / INT8.

  build_engine --onnx model.onnx --out model.engine --precision int8 --calib data.yaml

INT8 follows the installed TensorRT (--int8-path forces it):
  TensorRT 10  implicit: MinMax (default, as Ultralytics) or Entropy-2 calibrator over ALL the
               calibration images (--calib-max caps), a calibration cache reused until the model,
               the preprocessing or the images change; --fp16-fallback lets non-INT8 layers run
               in FP16 (the team's half=True).
  TensorRT 11  explicit: a Q/DQ ONNX first (the `quantize` tool's: Conv only, symmetric INT8,
               per-channel weights, float biases), then a strongly typed build. Implicit INT8
               and BuilderFlag.FP16 do not exist there; FP16 means an FP16 ONNX (converted here).
Calibration images are letterboxed by the node's own preprocessing and batched at the engine's
batch. The engine file gets the Ultralytics metadata header (names, imgsz, batch) plus the
precision, calibration summary, TensorRT version and GPU, unless --no-header.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..tensorrt_common import int8_path, trt_major


@dataclass
class BuildPlan:
    """What a build does, decided from the request and the TensorRT version (pure)."""

    precision: str
    strongly_typed: bool
    int8: str | None  # "implicit" | "explicit" | None
    onnx_steps: list[str] = field(default_factory=list)  # uint8_input, qdq_int8, fp16_onnx
    builder_flags: list[str] = field(default_factory=list)  # FP16, INT8
    needs_calibration: bool = False
    notes: list[str] = field(default_factory=list)


def make_plan(precision: str, trt_version: str, force_int8_path: str | None = None,
              fp16_fallback: bool = False, uint8_input: bool = False) -> BuildPlan:
    major = trt_major(trt_version)
    if precision not in ("fp32", "fp16", "int8"):
        raise ValueError(f"unknown precision {precision!r}: fp32, fp16 or int8")
    plan = BuildPlan(precision, strongly_typed=major >= 11, int8=None)
    if uint8_input:
        plan.onnx_steps.append("uint8_input")
    if precision == "fp16":
        if major >= 11:
            plan.onnx_steps.append("fp16_onnx")
        else:
            plan.builder_flags.append("FP16")
    elif precision == "int8":
        plan.int8 = int8_path(trt_version, force_int8_path)
        plan.needs_calibration = True
        if plan.int8 == "explicit":
            plan.strongly_typed = True
            plan.onnx_steps.append("qdq_int8")
            if fp16_fallback:
                plan.notes.append("--fp16-fallback has no effect on the explicit path: layers "
                                  "without Q/DQ run in the ONNX's precision (FP32)")
        else:
            plan.builder_flags.append("INT8")
            if fp16_fallback:
                plan.builder_flags.append("FP16")
    elif fp16_fallback:
        plan.notes.append("--fp16-fallback only applies to INT8 builds")
    return plan


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="build_engine", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--onnx", type=Path, required=True, help="Ultralytics ONNX (batch 2 or dynamic)")
    ap.add_argument("--out", type=Path, required=True, help="engine file to write (.engine)")
    ap.add_argument("--precision", choices=("fp32", "fp16", "int8"), default="fp16")
    ap.add_argument("--calib", type=Path, help="INT8 calibration images: a folder or data.yaml")
    ap.add_argument("--calib-split", default="val", help="data.yaml split to use (val)")
    ap.add_argument("--calib-max", type=int, help="cap the calibration images (default: all)")
    ap.add_argument("--calib-method", choices=("minmax", "entropy"), default="minmax",
                    help="implicit INT8 calibrator: MinMax (Ultralytics) or Entropy-2")
    ap.add_argument("--calib-cache", type=Path, help="calibration cache (default OUT.calib)")
    ap.add_argument("--int8-path", choices=("auto", "implicit", "explicit"), default="auto",
                    help="implicit calibrator (TensorRT 10) or explicit Q/DQ (TensorRT 11)")
    ap.add_argument("--keep-head", action=argparse.BooleanOptionalAction, default=True,
                    help="explicit INT8: keep the detection head's last convolutions and the DFL "
                         "in float (default)")
    ap.add_argument("--batch", type=int, default=2, help="engine batch (2 = left + right)")
    ap.add_argument("--workspace", type=float, default=4.0, help="builder workspace, GiB (4)")
    ap.add_argument("--timing-cache", type=Path, help="timing cache file, read and updated")
    ap.add_argument("--fp16-fallback", action="store_true",
                    help="INT8: let layers that stay out of INT8 run in FP16 (TensorRT 10)")
    ap.add_argument("--uint8-input", action="store_true",
                    help="the engine takes uint8 BGR HxWx3 frames; it normalizes on the GPU")
    ap.add_argument("--no-header", action="store_true", help="write a plain engine (no metadata)")
    return ap


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


class BuildError(RuntimeError):
    pass


def prepare_onnx(args: argparse.Namespace, plan: BuildPlan, workdir: Path,
                 calib_files: list[Path]) -> tuple[Path, dict[str, Any]]:
    """Apply the plan's ONNX steps; returns the ONNX to parse and a calibration summary."""
    import onnx

    from .. import onnx_tools
    from ..tensorrt_common import calibration_batches
    model = onnx.load(str(args.onnx))
    summary: dict[str, Any] = {}
    path = args.onnx
    if "uint8_input" in plan.onnx_steps:
        model = onnx_tools.add_uint8_input(model)
        path = workdir / "uint8_input.onnx"
        onnx.save(model, str(path))
    layout = "nhwc_uint8" if args.uint8_input else "nchw_float"
    hw = _input_hw(model)
    if "qdq_int8" in plan.onnx_steps:
        out = args.out.with_suffix(".qdq.onnx")
        exclude = onnx_tools.head_nodes(model) if args.keep_head else []
        print(f"quantizing to Q/DQ INT8 on {len(calib_files)} images -> {out}")
        onnx_tools.quantize_qdq(path, out, _progress(calibration_batches(
            calib_files, hw, args.batch, layout), len(calib_files), args.batch), exclude)
        summary = {"method": "qdq-minmax", "images": len(calib_files), "kept_float": exclude}
        path = out
    if "fp16_onnx" in plan.onnx_steps:
        model16 = onnx_tools.to_fp16(onnx.load(str(path)))
        path = workdir / "fp16.onnx"
        onnx.save(model16, str(path))
    return path, summary


def _input_hw(model: Any) -> tuple[int, int]:
    from ..onnx_tools import input_dims
    dims = input_dims(model)
    h, w = (dims[2], dims[3]) if dims[1] == 3 else (dims[1], dims[2])
    if not isinstance(h, int) or not isinstance(w, int) or h <= 0 or w <= 0:
        raise BuildError(f"the ONNX input needs a static height and width, got {dims}")
    return h, w


def _progress(batches: Any, n_images: int, batch: int) -> Any:
    from tqdm import tqdm
    return tqdm(batches, total=-(-n_images // batch), desc="calibration batches", unit="batch")


def build(args: argparse.Namespace, plan: BuildPlan) -> int:
    import onnx
    import tensorrt as trt

    from ..metadata import parse_metadata
    from ..tensorrt_common import (as_shape, calibration_cache_key, engine_metadata,
                                   join_engine_file, list_calibration_images)
    start = time.perf_counter()
    src_model = onnx.load(str(args.onnx))
    src_meta = {p.key: p.value for p in src_model.metadata_props}
    info = parse_metadata(src_meta)
    calib_files = list_calibration_images(args.calib, args.calib_max, args.calib_split) \
        if plan.needs_calibration else []
    if calib_files:
        print(f"calibration: {len(calib_files)} images from {args.calib}")
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path, calib_summary = prepare_onnx(args, plan, Path(tmp), calib_files)
        errors: list[str] = []

        class Logger(trt.ILogger):
            def __init__(self) -> None:
                trt.ILogger.__init__(self)

            def log(self, severity: Any, msg: str) -> None:
                if severity in (trt.ILogger.ERROR, trt.ILogger.INTERNAL_ERROR):
                    errors.append(msg)
                    print(f"[TensorRT] {msg}", file=sys.stderr)
                elif severity == trt.ILogger.WARNING:
                    print(f"[TensorRT] {msg}")

        logger = Logger()
        builder = trt.Builder(logger)
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) \
            if plan.strongly_typed else 0
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, logger)
        if not parser.parse_from_file(str(onnx_path)):
            raise BuildError("TensorRT cannot parse the ONNX: " + "; ".join(
                str(parser.get_error(i).desc()) for i in range(parser.num_errors)))
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(args.workspace * (1 << 30)))
        for flag in plan.builder_flags:
            config.set_flag(getattr(trt.BuilderFlag, flag))
        inp = network.get_input(0)
        shape = as_shape(inp.shape)
        hw = (shape[2], shape[3]) if shape[1] == 3 else (shape[1], shape[2])
        if shape[0] < 0:  # dynamic batch: a profile whose optimum is the stereo batch
            profile = builder.create_optimization_profile()
            fixed = list(shape[1:])
            profile.set_shape(inp.name, trt.Dims([1, *fixed]), trt.Dims([args.batch, *fixed]),
                              trt.Dims([args.batch, *fixed]))
            config.add_optimization_profile(profile)
            if plan.int8 == "implicit":
                config.set_calibration_profile(profile)
        elif shape[0] != args.batch:
            raise BuildError(f"the ONNX has a static batch {shape[0]}, not --batch {args.batch}: "
                             f"export it with batch={args.batch} (or dynamic)")
        calibrator = None
        if plan.int8 == "implicit":
            cache = args.calib_cache or args.out.with_suffix(".calib")
            layout = "nhwc_uint8" if args.uint8_input else "nchw_float"
            key = calibration_cache_key(Path(onnx_path).read_bytes(), hw, layout, args.batch,
                                        calib_files, args.calib_method)
            calibrator = make_calibrator(args.calib_method, calib_files, hw, args.batch,
                                         layout, cache, key)
            config.int8_calibrator = calibrator
            calib_summary = {"method": args.calib_method, "images": len(calib_files),
                             "cache": str(cache), "key": key[:16]}
        timing_cache = None
        if args.timing_cache:
            blob = args.timing_cache.read_bytes() if args.timing_cache.is_file() else b""
            timing_cache = config.create_timing_cache(blob)
            config.set_timing_cache(timing_cache, False)
        print(f"building {args.precision} engine (TensorRT {trt.__version__}, "
              f"{'strongly typed' if plan.strongly_typed else 'weakly typed'}, flags "
              f"{plan.builder_flags or 'none'}, workspace {args.workspace:g} GiB) ...", flush=True)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise BuildError("the TensorRT build failed: " + ("; ".join(errors) or "no reason"))
        if timing_cache is not None:
            args.timing_cache.write_bytes(bytes(config.get_timing_cache().serialize()))
    meta = None if args.no_header else engine_metadata(
        info.names, hw, args.batch, args.precision, src_meta,
        calibration=calib_summary or None, tensorrt_version=trt.__version__,
        gpu=_gpu_name(), uint8_input=bool(args.uint8_input),
        onnx_sha256=hashlib.sha256(args.onnx.read_bytes()).hexdigest(),
        int8_path=plan.int8, date=time.strftime("%Y-%m-%dT%H:%M:%S"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(join_engine_file(bytes(serialized), meta))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB) in "
          f"{time.perf_counter() - start:.0f} s; header: "
          f"{json.dumps({k: meta[k] for k in ('precision', 'batch', 'imgsz')}) if meta else 'none'}")
    return 0


def _gpu_name() -> str | None:
    try:
        from ..backends.tensorrt_backend import import_cudart
        cudart = import_cudart()
        status, prop = cudart.cudaGetDeviceProperties(0)
        if int(status) != 0:
            return None
        name = prop.name
        name = name.decode(errors="replace") if isinstance(name, bytes) else str(name)
        return f"{name.strip(chr(0))} (sm_{prop.major}{prop.minor})"
    except Exception:  # the header field is informative only
        return None


def make_calibrator(method: str, files: list[Path], hw: tuple[int, int], batch: int,
                    layout: str, cache: Path, key: str) -> Any:
    """A TensorRT 10 calibrator over the preprocessed images; device memory via cuda-python."""
    import numpy as np
    import tensorrt as trt

    from ..backends.tensorrt_backend import cuda_check, import_cudart
    from ..tensorrt_common import (calibration_batches, read_calibration_cache,
                                   write_calibration_cache)
    cudart = import_cudart()
    base = trt.IInt8MinMaxCalibrator if method == "minmax" else trt.IInt8EntropyCalibrator2

    class Calibrator(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            base.__init__(self)
            self.batches = iter(_progress(calibration_batches(files, hw, batch, layout),
                                          len(files), batch))
            dtype = np.uint8 if layout == "nhwc_uint8" else np.float32
            shape = (batch, *hw, 3) if layout == "nhwc_uint8" else (batch, 3, *hw)
            self.nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
            self.device = cuda_check(cudart, cudart.cudaMalloc(self.nbytes), "cudaMalloc")

        def get_batch_size(self) -> int:
            return batch

        def get_batch(self, names: list[str]) -> list[int] | None:
            data = next(self.batches, None)
            if data is None:
                return None
            data = np.ascontiguousarray(data)
            cuda_check(cudart, cudart.cudaMemcpy(self.device, data.ctypes.data, self.nbytes,
                                                 cudart.cudaMemcpyKind.cudaMemcpyHostToDevice),
                       "calibration batch to the GPU")
            return [int(self.device)]

        def read_calibration_cache(self) -> bytes | None:
            table = read_calibration_cache(cache, key)
            if table is not None:
                print(f"calibration: reusing {cache} (same model, preprocessing and images)")
            return table

        def write_calibration_cache(self, table: Any) -> None:
            write_calibration_cache(cache, key, bytes(table))
            print(f"calibration: cache written to {cache}")

        def __del__(self) -> None:
            cudart.cudaFree(self.device)

    return Calibrator()


if __name__ == "__main__":
    sys.exit(main())
