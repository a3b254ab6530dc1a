"""The engine file and its I/O, everything that is not a TensorRT call: pure, tested without a GPU.

- the Ultralytics engine file: int32 little-endian length L, L bytes of UTF-8 JSON metadata, then
  the serialized engine; plain (trtexec) engines have no header. Parsing is bounded and
  validated: a corrupt length never becomes a huge allocation or a silent misread.
- I/O tensor specs from what the engine declares (names, modes, shapes with -1, dtype names),
  checked against a stereo pair: batch 2 (or a dynamic profile that admits 2), 3 channels.
"""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .base import InputSpec, ModelLoadError

MAX_HEADER_BYTES = 1 << 20  # Ultralytics headers are ~1 KB; anything near a MiB is not one

# TensorRT DataType names -> NumPy dtypes (the engine declares its I/O types)
TRT_DTYPES: dict[str, Any] = {"FLOAT": np.float32, "HALF": np.float16, "INT8": np.int8,
                              "INT32": np.int32, "INT64": np.int64, "UINT8": np.uint8,
                              "BOOL": np.bool_}


class EngineFileError(ModelLoadError):
    """The engine file is truncated, its metadata header is corrupt, or it cannot be used."""


# --- the engine file -----------------------------------------------------------------------

def split_engine_file(data: bytes) -> tuple[dict[str, Any] | None, bytes]:
    """(metadata or None, serialized engine) of an engine file's bytes.

    A header is present when the first 4 bytes give a length L with 2 <= L <= MAX_HEADER_BYTES,
    L + 4 < file size, and the L bytes after them start with '{'. Such a header must then be a
    UTF-8 JSON object, or the file is refused: garbage is not silently passed to TensorRT.
    """
    if len(data) < 8:
        raise EngineFileError(f"engine file is {len(data)} bytes: truncated or empty")
    (length,) = struct.unpack("<i", data[:4])
    looks_like_header = 2 <= length <= MAX_HEADER_BYTES and length + 4 < len(data) \
        and data[4:5] == b"{"
    if not looks_like_header:
        if data[4:5] == b"{" and length > 0:
            raise EngineFileError(
                f"engine metadata header claims {length} bytes (file {len(data)} bytes, limit "
                f"{MAX_HEADER_BYTES}): the file is truncated or corrupt")
        return None, data
    try:
        meta = json.loads(data[4:4 + length].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EngineFileError(f"engine metadata header ({length} bytes) is not valid JSON: "
                              f"{exc}") from exc
    if not isinstance(meta, dict):
        raise EngineFileError(f"engine metadata header is JSON but not an object: {meta!r:.80}")
    return meta, data[4 + length:]


def join_engine_file(engine: bytes, metadata: dict[str, Any] | None) -> bytes:
    """The bytes of an engine file: Ultralytics header (unless metadata is None) + engine."""
    if metadata is None:
        return bytes(engine)
    header = json.dumps(metadata).encode("utf-8")
    if len(header) > MAX_HEADER_BYTES:
        raise ValueError(f"metadata header of {len(header)} bytes exceeds {MAX_HEADER_BYTES}")
    return struct.pack("<i", len(header)) + header + bytes(engine)


def engine_metadata(names: Sequence[str], imgsz: Sequence[int], batch: int, precision: str,
                    source: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """Ultralytics-compatible header: its keys (names as {id: name}, imgsz [h, w], batch,
    stride, task) plus ours (precision, calibration summary, build details)."""
    meta: dict[str, Any] = {k: v for k, v in (source or {}).items()
                            if k in ("description", "author", "version", "license", "docs",
                                     "stride", "task", "end2end", "args", "channels")}
    meta.update({"names": {i: n for i, n in enumerate(names)}, "imgsz": [int(imgsz[0]),
                                                                          int(imgsz[1])],
                 "batch": int(batch), "precision": precision, "task": meta.get("task", "detect"),
                 "stride": int(meta.get("stride", 32))})
    meta.update(extra)
    return meta


# --- I/O tensors ---------------------------------------------------------------------------

@dataclass(frozen=True)
class IOTensor:
    name: str
    is_input: bool
    shape: tuple[int, ...]  # -1 where dynamic
    dtype: str  # TensorRT DataType name: FLOAT, HALF, UINT8, ...

    @property
    def numpy_dtype(self) -> np.dtype:
        if self.dtype not in TRT_DTYPES:
            raise EngineFileError(f"tensor {self.name!r} has unsupported type {self.dtype}")
        return np.dtype(TRT_DTYPES[self.dtype])


@dataclass(frozen=True)
class EnginePlan:
    """What the backend allocates and sets for one stereo pair."""

    input: InputSpec
    input_shape: tuple[int, ...]  # concrete, batch included
    output: IOTensor
    dynamic: bool  # set_input_shape is needed


def plan_io(tensors: Sequence[IOTensor], profile: tuple[Sequence[int], Sequence[int],
                                                        Sequence[int]] | None = None,
            batch: int = 2, imgsz: tuple[int, int] | None = None) -> EnginePlan:
    """Check the engine's I/O against a stereo pair and fix the shapes to run with.

    ``profile`` is (min, opt, max) of the input's optimization profile when it is dynamic.
    """
    inputs = [t for t in tensors if t.is_input]
    outputs = [t for t in tensors if not t.is_input]
    if len(inputs) != 1:
        raise EngineFileError(f"expected one input tensor, the engine has "
                              f"{[t.name for t in inputs]}")
    if not outputs:
        raise EngineFileError("the engine has no output tensor")
    inp = inputs[0]
    if len(inp.shape) != 4:
        raise EngineFileError(f"input {inp.name!r} must be 4-D, got {inp.shape}")
    dtype = inp.numpy_dtype
    if dtype == np.uint8 and inp.shape[3] == 3:
        layout, hw_dims = "nhwc_uint8", (1, 2)
    elif inp.shape[1] == 3 and dtype in (np.float32, np.float16):
        layout, hw_dims = "nchw_float", (2, 3)
    else:
        raise EngineFileError(f"input {inp.name!r} {inp.shape} {inp.dtype} is neither "
                              f"float [B,3,H,W] nor uint8 [B,H,W,3]")
    shape = list(inp.shape)
    dynamic = any(d < 0 for d in shape)
    if dynamic:
        if profile is None:
            raise EngineFileError(f"input {inp.name!r} is dynamic {inp.shape} but the engine has "
                                  f"no optimization profile")
        lo, opt, hi = (list(p) for p in profile)
        if shape[0] < 0:
            if not lo[0] <= batch <= hi[0]:
                raise EngineFileError(f"the engine's profile admits batch {lo[0]}..{hi[0]}: a "
                                      f"stereo pair needs {batch}")
            shape[0] = batch
        for d in hw_dims:
            if shape[d] < 0:
                want = imgsz[hw_dims.index(d)] if imgsz else opt[d]
                if not lo[d] <= want <= hi[d]:
                    raise EngineFileError(f"input size {want} is outside the profile "
                                          f"{lo[d]}..{hi[d]}")
                shape[d] = int(want)
    if shape[0] not in (1, batch):
        raise EngineFileError(f"the engine takes batch {shape[0]}: a stereo pair needs {batch} "
                              f"(or 1, run twice); rebuild it with build_engine --batch {batch}")
    output = next((t for t in outputs if t.name == "output0"), outputs[0])
    if output.numpy_dtype not in (np.float32, np.float16):
        raise EngineFileError(f"output {output.name!r} is {output.dtype}: cannot decode")
    spec = InputSpec(inp.name, shape[0], (shape[hw_dims[0]], shape[hw_dims[1]]), dtype, layout)
    return EnginePlan(spec, tuple(shape), output, dynamic)


def as_shape(dims: Any) -> tuple[int, ...]:
    """A TensorRT Dims (or any sequence of ints) as a tuple."""
    return tuple(int(d) for d in dims)


# --- versions and the INT8 path ------------------------------------------------------------

def trt_major(version: str) -> int:
    try:
        return int(str(version).split(".")[0])
    except ValueError as exc:
        raise ValueError(f"cannot read a TensorRT version from {version!r}") from exc

