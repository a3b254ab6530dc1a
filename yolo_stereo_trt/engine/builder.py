"""Building a TensorRT engine: the ONNX steps of a plan, the TensorRT 10 calibrator, the build.

The TensorRT calls stay here and thin; the decisions are in ``plan`` and the inputs in
``calibration`` (both pure and tested). mypy checks these calls against tensorrt-stubs.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .plan import BuildPlan


class BuildError(RuntimeError):
    pass


def prepare_onnx(args: argparse.Namespace, plan: BuildPlan, workdir: Path,
                 calib_files: list[Path]) -> tuple[Path, dict[str, Any], str]:
    """Apply the plan's ONNX steps; returns the ONNX to parse, a calibration summary and the
    input layout of that ONNX (what the calibration batches and the engine take)."""
    import onnx

    from . import onnx_graph as onnx_tools
    from .calibration import calibration_batches
    model = onnx.load(str(args.onnx))
    summary: dict[str, Any] = {}
    path = args.onnx
    if "uint8_input" in plan.onnx_steps and onnx_tools.input_layout(model) == "nchw_float":
        model = onnx_tools.add_uint8_input(model)  # (an ONNX that already takes uint8 keeps it)
        path = workdir / "uint8_input.onnx"
        onnx.save(model, str(path))
    layout = onnx_tools.input_layout(model)
    hw = input_hw(model)
    if "qdq_int8" in plan.onnx_steps:
        out = args.out.with_suffix(".qdq.onnx")
        exclude = onnx_tools.float_nodes(model) if args.keep_head else []
        print(f"quantizing to Q/DQ INT8 on {len(calib_files)} images -> {out}")
        onnx_tools.quantize_qdq(path, out, progress(calibration_batches(
            calib_files, hw, args.batch, layout), len(calib_files), args.batch), exclude)
        summary = {"method": f"qdq-{onnx_tools.CALIB_METHOD}", "images": len(calib_files),
                   "kept_float": exclude}
        path = out
    if "fp16_onnx" in plan.onnx_steps:
        model16 = onnx_tools.to_fp16(onnx.load(str(path)))
        path = workdir / "fp16.onnx"
        onnx.save(model16, str(path))
    return path, summary, layout


def input_hw(model: Any) -> tuple[int, int]:
    from .onnx_graph import input_dims
    dims = input_dims(model)
    h, w = (dims[2], dims[3]) if dims[1] == 3 else (dims[1], dims[2])
    if not isinstance(h, int) or not isinstance(w, int) or h <= 0 or w <= 0:
        raise BuildError(f"the ONNX input needs a static height and width, got {dims}")
    return h, w


def progress(batches: Any, n_images: int, batch: int) -> Any:
    from tqdm import tqdm
    return tqdm(batches, total=-(-n_images // batch), desc="calibration batches", unit="batch")


def build(args: argparse.Namespace, plan: BuildPlan) -> int:
    import onnx
    import tensorrt as trt

    from ..core.metadata import parse_metadata
    from ..backends.engine_file import as_shape, engine_metadata, join_engine_file
    from .calibration import calibration_cache_key, list_calibration_images
    start = time.perf_counter()
    args.out.parent.mkdir(parents=True, exist_ok=True)  # the Q/DQ ONNX is written beside it
    src_model = onnx.load(str(args.onnx))
    src_meta = {p.key: p.value for p in src_model.metadata_props}
    info = parse_metadata(src_meta)
    calib_files = list_calibration_images(args.calib, args.calib_max, args.calib_split) \
        if plan.needs_calibration else []
    if calib_files:
        print(f"calibration: {len(calib_files)} images from {args.calib}")
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path, calib_summary, layout = prepare_onnx(args, plan, Path(tmp), calib_files)
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
            args.timing_cache.parent.mkdir(parents=True, exist_ok=True)
            args.timing_cache.write_bytes(bytes(config.get_timing_cache().serialize()))
    meta = None if args.no_header else engine_metadata(
        info.names, hw, args.batch, args.precision, src_meta,
        calibration=calib_summary or None, tensorrt_version=trt.__version__,
        gpu=gpu_name(), uint8_input=layout == "nhwc_uint8",
        onnx_sha256=hashlib.sha256(args.onnx.read_bytes()).hexdigest(),
        int8_path=plan.int8, date=time.strftime("%Y-%m-%dT%H:%M:%S"))
    args.out.write_bytes(join_engine_file(bytes(serialized), meta))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB) in "
          f"{time.perf_counter() - start:.0f} s; header: "
          f"{json.dumps({k: meta[k] for k in ('precision', 'batch', 'imgsz')}) if meta else 'none'}")
    return 0


def gpu_name() -> str | None:
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
    from .calibration import (calibration_batches, read_calibration_cache,
                                   write_calibration_cache)
    cudart = import_cudart()
    base = trt.IInt8MinMaxCalibrator if method == "minmax" else trt.IInt8EntropyCalibrator2

    class Calibrator(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            base.__init__(self)
            self.batches = iter(progress(calibration_batches(files, hw, batch, layout),
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
