"""Inference backends behind one small interface; chosen by the model file's suffix."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

from typing import TYPE_CHECKING

from ..core.paths import resolve_package_path
from .base import Backend, InputSpec, ModelLoadError

if TYPE_CHECKING:
    from ..core.pipeline import StereoPipeline

__all__ = ["Backend", "InputSpec", "ModelLoadError", "load_backend", "load_pipeline"]


def load_backend(model_path: str | Path, device: str = "auto", threads: int = 0,
                 uint8_input: bool = True) -> Backend:
    """``.onnx`` -> ONNX Runtime, ``.engine``/``.plan`` -> TensorRT (whose input is what the
    engine was built with). ONNX Runtime only: ``threads`` intra-op threads (0 = its default),
    ``uint8_input`` normalizes in the network (see OnnxRuntimeBackend). Whatever goes wrong
    while loading (a missing, empty, truncated or foreign file, a TensorRT or CUDA fault) is a
    ModelLoadError with a one-line reason that names the file."""
    path = Path(model_path)
    if path.is_dir():
        raise ModelLoadError(f"model_path is a folder, not a model file: {path}")
    if not path.is_file():
        raise ModelLoadError(f"model file not found: {path}")
    if path.stat().st_size == 0:
        raise ModelLoadError(f"model file is empty: {path}")
    try:
        return _load(path, device, threads, uint8_input)
    except ModelLoadError as exc:
        if str(path) in str(exc):
            raise
        raise type(exc)(f"{path}: {exc}") from exc  # same type, the file named
    except Exception as exc:  # OSError, RuntimeError, ... from ORT, TensorRT, CUDA bindings
        text = " ".join(str(exc).split())[:300]
        raise ModelLoadError(f"cannot load {path}: {type(exc).__name__}: {text}") from exc


def load_pipeline(model_path: str | Path, device: str = "auto", class_names: Sequence[str] = (),
                  class_types: Sequence[str] = (), head_format: str = "auto", threads: int = 0
                  ) -> tuple["StereoPipeline", str]:
    """The model file (relative paths: package share directory) as a pipeline, and a one-line
    summary for the log: path, size, sha256 prefix, backend, device, precision, input, names."""
    from ..core.pipeline import StereoPipeline  # the backends stay importable on their own
    path = resolve_package_path(model_path)
    backend = load_backend(path, device, threads)
    try:
        pipeline = StereoPipeline(backend, class_names, class_types, head_format)
    except ValueError as exc:
        backend.close()
        raise ModelLoadError(f"{path}: {exc}") from exc
    except BaseException:
        backend.close()
        raise
    data = path.read_bytes()
    b = backend
    digest = hashlib.sha256(data).hexdigest()[:12]
    summary = (f"{path.resolve()} ({len(data) / 1e6:.1f} MB, sha256 {digest}), "
               f"{b.name} on {b.device}, {b.info.precision}, input {b.input.batch or 'dynamic'}x"
               f"{b.input.hw[0]}x{b.input.hw[1]} {b.input.layout}, {pipeline.head.describe()}, "
               f"classes {', '.join(pipeline.class_names)}")
    return pipeline, summary


def _load(path: Path, device: str, threads: int, uint8_input: bool) -> Backend:
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        from .onnxruntime_backend import OnnxRuntimeBackend
        return OnnxRuntimeBackend(path, device=device, threads=threads,
                                  uint8_input=uint8_input)
    if suffix in (".engine", ".plan"):
        try:
            from .tensorrt_backend import TensorRTBackend
        except ImportError as exc:
            raise ModelLoadError(f"cannot load {path}: the TensorRT backend is unavailable "
                                 f"({exc})") from exc
        return TensorRTBackend(path)
    raise ModelLoadError(f"unknown model type {suffix!r} for {path}: expected .onnx, .engine or .plan")
