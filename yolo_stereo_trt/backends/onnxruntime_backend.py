"""ONNX Runtime backend: the embedded default (CPU; CUDA when onnxruntime-gpu provides it)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from ..core.metadata import ModelMetadataError, parse_metadata
from .base import InputSpec, ModelLoadError

_ORT_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16,
               "tensor(uint8)": np.uint8}


def input_spec_from_shape(name: str, shape: list, ort_type: str, imgsz: tuple[int, int] | None
                          ) -> InputSpec:
    """Model input shape as ONNX declares it (ints, or strings/None when dynamic) -> InputSpec."""
    if ort_type not in _ORT_DTYPES:
        raise ModelLoadError(f"input {name!r} has unsupported type {ort_type}")
    dtype = np.dtype(_ORT_DTYPES[ort_type])
    if len(shape) != 4:
        raise ModelLoadError(f"input {name!r} must be 4-D, got {shape}")
    static = [d if isinstance(d, int) and d > 0 else None for d in shape]
    if dtype == np.uint8 and static[3] == 3:
        layout, h, w = "nhwc_uint8", static[1], static[2]
    elif static[1] == 3:
        layout, h, w = "nchw_float", static[2], static[3]
    else:
        raise ModelLoadError(f"input {name!r} {shape} is neither [B,3,H,W] nor uint8 [B,H,W,3]")
    if h is None or w is None:
        if imgsz is None:
            raise ModelLoadError(f"input {name!r} has a dynamic size and no imgsz metadata")
        h, w = imgsz
    return InputSpec(name, static[0], (int(h), int(w)), dtype, layout)


class OnnxRuntimeBackend:
    """ONNX Runtime session over a YOLO ONNX.

    ``threads``: intra-op threads (0 = ONNX Runtime's default, one per core). Idle threads never
    spin between pairs (a node waits tens of milliseconds for the next pair; spinning would burn
    a core for nothing). ``uint8_input`` (default): a float32 [B,3,H,W] model gets the uint8
    input graph change in memory (backends/onnx_input.py), so it takes the letterboxed uint8 BGR
    frames (B,H,W,3) and normalizes inside the network, as the engines do; the results equal the
    float path's. False keeps the model's own input (for equivalence tests).
    """

    name = "onnxruntime"

    def __init__(self, path: str | Path, device: str = "auto", threads: int = 0,
                 uint8_input: bool = True) -> None:
        available = ort.get_available_providers()
        want_cuda = device in ("auto", "cuda") and "CUDAExecutionProvider" in available
        if device == "cuda" and not want_cuda:
            raise ModelLoadError("device 'cuda' requested but ONNX Runtime has no CUDA provider "
                                 f"(available: {available})")
        if int(threads) < 0:
            raise ModelLoadError(f"threads must be >= 0 (0 = ONNX Runtime's default), got {threads}")
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if want_cuda else \
            ["CPUExecutionProvider"]
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        if threads:
            options.intra_op_num_threads = int(threads)
        self.threads = int(threads)
        source, self.normalizes_in_graph = _session_source(Path(path), uint8_input)
        try:
            self.session = ort.InferenceSession(source, options, providers=providers)
        except Exception as exc:  # ORT raises its own exception types for corrupt files
            raise ModelLoadError(f"ONNX Runtime cannot load {path}: {exc}") from exc
        self.device = self.session.get_providers()[0]
        try:
            self.info = parse_metadata(self.session.get_modelmeta().custom_metadata_map)
        except ModelMetadataError as exc:
            raise ModelLoadError(f"{path}: {exc}") from exc
        inp = self.session.get_inputs()[0]
        self.input = input_spec_from_shape(inp.name, list(inp.shape), inp.type, self.info.imgsz)
        output = self.session.get_outputs()[0]
        self.output_name = output.name
        # as declared: None where dynamic (the pipeline then runs a warm-up to see it)
        self.output_shape = tuple(d if isinstance(d, int) and d > 0 else None for d in output.shape)
        if self.info.batch is None:
            self.info.batch = self.input.batch
        self.info.precision = _precision_of(self.session, self.input.dtype)
        # The Preprocessor letterboxes straight into this array and infer() hands it to ONNX
        # Runtime as it is (a contiguous CPU array of the input type is not copied).
        self.input_buffer: np.ndarray | None = None
        if self.input.batch is not None:
            h, w = self.input.hw
            shape = (self.input.batch, h, w, 3) if self.input.layout == "nhwc_uint8" else \
                (self.input.batch, 3, h, w)
            self.input_buffer = np.zeros(shape, self.input.dtype)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        if batch.dtype != self.input.dtype:
            batch = batch.astype(self.input.dtype)
        return self.session.run([self.output_name], {self.input.name: batch})[0]

    def close(self) -> None:
        self.session = None  # type: ignore[assignment]


def _session_source(path: Path, uint8_input: bool) -> tuple[str | bytes, bool]:
    """What ONNX Runtime loads: the file itself, or (``uint8_input`` and a float32 [B,3,H,W]
    input) the model with the uint8 input graph change, serialized in memory."""
    if not uint8_input:
        return str(path), False
    import onnx

    from .onnx_input import OnnxToolError, add_uint8_input, has_float_image_input
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf's DecodeError and friends for a corrupt file
        raise ModelLoadError(f"ONNX Runtime cannot load {path}: not an ONNX model ({exc})") from exc
    if not has_float_image_input(model):
        return str(path), False
    try:
        return add_uint8_input(model, check=False).SerializeToString(), True
    except OnnxToolError as exc:
        raise ModelLoadError(f"{path}: cannot give it a uint8 input ({exc}); load it with "
                             f"uint8_input=False") from exc


def _precision_of(session: "ort.InferenceSession", input_dtype: np.dtype) -> str:
    meta = session.get_modelmeta().custom_metadata_map
    if "precision" in meta:
        return meta["precision"]
    return "fp16" if input_dtype == np.float16 else "fp32"
