"""The small interface the pipeline calls a backend through (ARCHITECTURE: the core defines it,
backends/ implement it: ONNX Runtime, TensorRT)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .metadata import ModelInfo


class ModelLoadError(RuntimeError):
    """The model file cannot be loaded (missing, corrupt, unsupported)."""


@dataclass(frozen=True)
class InputSpec:
    """The model input: ``batch`` None when dynamic; ``layout`` as the Preprocessor knows it."""

    name: str
    batch: int | None
    hw: tuple[int, int]
    dtype: np.dtype
    layout: str  # "nhwc_uint8" (normalizes in the network: the default) or "nchw_float"


class Backend(Protocol):
    name: str  # "onnxruntime" or "tensorrt"
    device: str  # e.g. "CPUExecutionProvider", "cuda:0"
    input: InputSpec
    info: ModelInfo
    # Optional: the output shape as declared (None where dynamic); a backend without it, or
    # with a dynamic dimension, gets a warm-up inference on a blank batch at load instead.

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Run the model on ``batch`` (shape = input batch); return the detection head output."""
        ...

    def close(self) -> None:
        ...
