"""Conformance check: does an ONNX parse and build with TensorRT's ONNX parser and builder?

TensorRT for RTX (PyPI `tensorrt-rtx-cu13-libs` + `tensorrt-rtx-cu13-bindings`) builds engines on
a CPU with no GPU present, and its parser and Q/DQ rules are TensorRT's. So every ONNX the tools
write (FP32, FP16, uint8-input, Q/DQ INT8) is built here, strongly typed, before it reaches the
car. It is not the car's runtime: no INT8 convolutions, and nothing executes without a GPU.

    python -m yolo_stereo_trt.engine.conformance MODEL.onnx [...]
"""
from __future__ import annotations

import ctypes
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_TRT: Any = None


class TensorRTRtxUnavailable(ImportError):
    pass


def load_tensorrt_rtx() -> Any:
    """Import tensorrt_rtx_bindings after preloading its two libraries (RTLD_GLOBAL)."""
    global _TRT
    if _TRT is None:
        try:
            import tensorrt_rtx_libs
        except ImportError as exc:
            raise TensorRTRtxUnavailable(
                "TensorRT for RTX is not installed: pip install tensorrt-rtx-cu13-libs "
                "tensorrt-rtx-cu13-bindings") from exc
        folder = Path(tensorrt_rtx_libs.__file__).parent
        for lib in ("libtensorrt_rtx.so.1", "libtensorrt_onnxparser_rtx.so.1"):
            ctypes.CDLL(str(folder / lib), mode=ctypes.RTLD_GLOBAL)
        import tensorrt_rtx_bindings
        _TRT = tensorrt_rtx_bindings
    return _TRT


@dataclass
class BuildCheck:
    path: str
    ok: bool
    stage: str  # "parse" or "build" when it failed, "done" when it built
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    inputs: list[tuple[str, tuple[int, ...], str]] = field(default_factory=list)
    outputs: list[tuple[str, tuple[int, ...], str]] = field(default_factory=list)
    engine_bytes: int = 0

    def __str__(self) -> str:
        io = ", ".join(f"{n} {list(s)} {d}" for n, s, d in self.inputs + self.outputs)
        if self.ok:
            return f"OK    {self.path}: parsed and built strongly typed in {self.seconds:.1f} s " \
                   f"({self.engine_bytes / 1e6:.1f} MB; {io})"
        return f"FAIL  {self.path}: {self.stage} failed: {'; '.join(self.errors)[:2000]}"




def check_onnx(path: str | Path) -> BuildCheck:
    """Parse and build ``path`` strongly typed with TensorRT for RTX."""
    trt = load_tensorrt_rtx()
    errors: list[str] = []

    class Logger(trt.ILogger):  # collect the builder's errors instead of printing them
        def __init__(self) -> None:
            trt.ILogger.__init__(self)

        def log(self, severity: Any, msg: str) -> None:
            if severity in (trt.ILogger.ERROR, trt.ILogger.INTERNAL_ERROR):
                errors.append(msg)

    logger = Logger()
    start = time.perf_counter()
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, logger)
    result = BuildCheck(str(path), False, "parse")
    if not parser.parse_from_file(str(path)):
        result.errors = [str(parser.get_error(i).desc()) for i in range(parser.num_errors)]
        result.errors += errors
        return result

    def io(t: Any) -> tuple[str, tuple[int, ...], str]:
        return t.name, tuple(t.shape), t.dtype.name

    result.inputs = [io(network.get_input(i)) for i in range(network.num_inputs)]
    result.outputs = [io(network.get_output(i)) for i in range(network.num_outputs)]
    config = builder.create_builder_config()
    result.stage = "build"
    serialized = builder.build_serialized_network(network, config)
    result.seconds = time.perf_counter() - start
    if serialized is None:
        result.errors = errors or ["build_serialized_network returned None"]
        return result
    result.ok, result.stage, result.engine_bytes = True, "done", int(serialized.nbytes)
    return result


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if args else 2
    os.environ.setdefault("CUDA_MODULE_LOADING", "LAZY")
    checks = [check_onnx(p) for p in args]
    for c in checks:
        print(c)
    return 0 if all(c.ok for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
