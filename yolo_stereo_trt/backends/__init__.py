"""Inference backends behind one small interface; chosen by the model file's suffix."""
from __future__ import annotations

from pathlib import Path

from .base import Backend, InputSpec, ModelLoadError

__all__ = ["Backend", "InputSpec", "ModelLoadError", "load_backend"]


def load_backend(model_path: str | Path, device: str = "auto", threads: int = 0,
                 uint8_input: bool = True) -> Backend:
    """``.onnx`` -> ONNX Runtime, ``.engine``/``.plan`` -> TensorRT (whose input is what the
    engine was built with). ONNX Runtime only: ``threads`` intra-op threads (0 = its default),
    ``uint8_input`` normalizes in the network (see OnnxRuntimeBackend)."""
    path = Path(model_path)
    if not path.is_file():
        raise ModelLoadError(f"model file not found: {path}")
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
