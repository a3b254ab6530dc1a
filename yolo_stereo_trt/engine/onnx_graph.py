"""ONNX graph work for the engine tools: uint8 input surgery, FP16 weights, Q/DQ INT8.

Everything here runs on a CPU; what it writes must parse and build with TensorRT's ONNX parser
(checked in CI with TensorRT for RTX, see engine/conformance.py).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import onnx
from onnx import TensorProto

from ..backends.onnx_input import (UINT8_INPUT_FORMAT, OnnxToolError, add_uint8_input,  # noqa: F401
                                   image_input as _image_input, input_dims, set_metadata)

# The detection head's last convolutions (box and class branches) and the DFL projection, as
# Ultralytics names them in ONNX exports: kept in floating point by `quantize --keep-head`.
HEAD_PATTERNS = (r"/cv2\.\d+/cv2\.\d+\.2/Conv$", r"/cv3\.\d+/cv3\.\d+\.2/Conv$", r"/dfl/")
# Layers INT8 hurts most besides the head (measured on the shipped YOLO12n: with the head alone
# in float 98.5 % of FP32 mAP50 kept, + the first convolution 99.2 %, + the attention blocks'
# positional-encoding convolutions 99.5 %): the first conv sees the raw pixels, the depthwise
# "pe" convs of the area attention have few weights per channel.
SENSITIVE_PATTERNS = (r"^/model\.0/", r"/attn/pe/")


def input_layout(model: onnx.ModelProto) -> str:
    """The Preprocessor layout the model takes: "nhwc_uint8" (uint8 [B,H,W,3]: the network
    normalizes) or "nchw_float" (float [B,3,H,W]: the host does)."""
    inp = _image_input(model)
    dims = input_dims(model)
    if len(dims) == 4 and inp.type.tensor_type.elem_type == TensorProto.UINT8 and dims[3] == 3:
        return "nhwc_uint8"
    if len(dims) == 4 and dims[1] == 3:
        return "nchw_float"
    raise OnnxToolError(f"input {inp.name!r} {dims} is neither float [B,3,H,W] nor uint8 [B,H,W,3]")


def metadata(model: onnx.ModelProto) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """FP16 weights and compute with float32 I/O: what a strongly typed TensorRT 11 build needs
    for FP16 (BuilderFlag.FP16 is gone there)."""
    from onnxconverter_common import float16
    model = onnx.ModelProto.FromString(model.SerializeToString())
    for i, node in enumerate(model.graph.node):  # the converter names its casts after nodes
        node.name = node.name or f"{node.op_type}_{i}"
    out = float16.convert_float_to_float16(model, keep_io_types=True)
    outputs = {o.name for o in out.graph.output}
    # Resize's roi/scales stay float32: TensorRT refuses a half/float mix in its shape arithmetic
    # (exports that were not simplified feed them through Constant nodes and casts)
    outputs |= {i for n in out.graph.node if n.op_type == "Resize" for i in n.input[1:] if i}
    for node in out.graph.node:  # casts inside the graph to float32 become casts to float16
        if node.op_type == "Cast" and not outputs.intersection(node.output):
            for attr in node.attribute:
                if attr.name == "to" and attr.i == TensorProto.FLOAT \
                        and not node.name.endswith(tuple(f"_cast_to_{o}" for o in outputs)):
                    attr.i = TensorProto.FLOAT16
    del out.graph.value_info[:]
    toposort(out.graph)  # the converter appends its I/O casts last; TensorRT needs graph order
    set_metadata(out, precision="fp16")
    onnx.checker.check_model(out)
    return out


def toposort(graph: onnx.GraphProto) -> None:
    """Reorder graph.node so every node comes after the producers of its inputs (Kahn)."""
    available = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending = list(graph.node)
    ordered: list[onnx.NodeProto] = []
    while pending:
        ready = [n for n in pending if all(x in available for x in n.input)]
        if not ready:
            raise OnnxToolError(f"graph has a cycle or a missing input near {pending[0].name!r}")
        ready_ids = {id(n) for n in ready}
        pending = [n for n in pending if id(n) not in ready_ids]
        for n in ready:
            available.update(n.output)
        ordered += ready
    copies = [onnx.NodeProto.FromString(n.SerializeToString()) for n in ordered]
    del graph.node[:]
    graph.node.extend(copies)


def head_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the detection head's final convolutions and DFL nodes (HEAD_PATTERNS)."""
    patterns = [re.compile(p) for p in HEAD_PATTERNS]
    return [n.name for n in model.graph.node if any(p.search(n.name) for p in patterns)]


def float_nodes(model: onnx.ModelProto) -> list[str]:
    """What --keep-head keeps in float: the head, plus the first convolution and the attention
    positional-encoding convolutions (SENSITIVE_PATTERNS)."""
    patterns = [re.compile(p) for p in SENSITIVE_PATTERNS]
    extra = [n.name for n in model.graph.node if n.op_type == "Conv"
             and any(p.search(n.name) for p in patterns)]
    return head_nodes(model) + [n for n in extra if n not in head_nodes(model)]


class _Reader:
    """onnxruntime CalibrationDataReader over model-input batches. With ``n_batches`` it also
    serves onnxruntime's strided calibration (CalibStridedMinMax): ``set_range`` hands out the
    next ``end - start`` batches of the one pass over ``batches`` (nothing is held in memory)."""

    def __init__(self, name: str, batches: Iterator[np.ndarray],
                 n_batches: int | None = None) -> None:
        self.name, self.batches, self.n_batches = name, batches, n_batches
        self.left: int | None = None

    def __len__(self) -> int:
        if self.n_batches is None:
            raise TypeError("this calibration reader was made without n_batches")
        return self.n_batches

    def set_range(self, start_index: int, end_index: int) -> None:
        self.left = end_index - start_index

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.left is not None:
            if self.left <= 0:
                return None
            self.left -= 1
        batch = next(self.batches, None)
        return None if batch is None else {self.name: batch}

    def rewind(self) -> None:  # pragma: no cover - onnxruntime calls it for some methods
        pass


# Q/DQ calibration: Percentile (99.999) by default. MinMax lets one outlier activation set a
# layer's scale: on a retrained YOLO12n (orange cones, 2026-12) the Concat feeding model.2's cv2
# reached 71.8 with MinMax but 17.0 at the 99.999th percentile, and INT8 kept 95.3 % of FP32
# mAP50 with MinMax, 99.6 % with Percentile (the shipped model: 99.5 % either way; Entropy
# 99.1 % on the new one; 99.99 instead of 99.999 clips too much: 96.5 %).
CALIB_METHOD = "percentile"
CALIB_PERCENTILE = 99.999
# The histogram calibrators (percentile, entropy) keep every calibrated tensor of every batch of
# one collection pass in memory (400 images of YOLO12n in one pass: killed at 23 GB): they
# collect in passes of at most this many batches, whose histograms onnxruntime merges.
HISTOGRAM_PASS_BATCHES = 8


def quantize_qdq(model_path: Path, out_path: Path, batches: Iterable[np.ndarray],
                 exclude: Iterable[str] = (), method: str = CALIB_METHOD) -> list[str]:
    """Q/DQ INT8 ONNX that TensorRT builds strongly typed: Conv only, symmetric INT8 with zero
    points 0, per-channel weights, biases left in float. (ONNX Runtime's defaults write int32
    bias DequantizeLinear nodes the TensorRT parser rejects, and quantize a constant in YOLO12's
    attention that the builder rejects.) Activation ranges by ``method`` (CALIB_METHOD); the
    histogram methods collect in passes of HISTOGRAM_PASS_BATCHES batches, which needs the
    number of batches: len(batches) (a tqdm with its total has it), else they are listed
    first. Returns the node names kept in floating point."""
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    if method not in methods:
        raise OnnxToolError(f"unknown calibration method {method!r}: {sorted(methods)}")
    model = onnx.load(str(model_path))
    name = _image_input(model).name
    exclude = list(exclude)
    # No CalibMaxIntermediateOutputs: in onnxruntime 1.32 MinMax calibration it throws the
    # collected batches away instead of folding them in (only the last N % max count).
    extra: dict[str, object] = {"ActivationSymmetric": True, "WeightSymmetric": True,
                                "QuantizeBias": False}
    n_batches = None
    if method != "minmax":  # histograms: collect in passes (onnxruntime's strided calibration)
        if not hasattr(batches, "__len__"):
            batches = list(batches)
        n_batches = len(batches)  # type: ignore[arg-type]
        extra["CalibStridedMinMax"] = max(d for d in range(1, HISTOGRAM_PASS_BATCHES + 1)
                                          if n_batches % d == 0)  # it must divide the count
    if method == "percentile":
        extra["CalibPercentile"] = CALIB_PERCENTILE
    reader = _Reader(name, iter(batches), n_batches)
    quantize_static(
        str(model_path), str(out_path), reader,
        quant_format=QuantFormat.QDQ, op_types_to_quantize=["Conv"], per_channel=True,
        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
        nodes_to_exclude=exclude or None, calibrate_method=methods[method],
        extra_options=extra)
    for _ in reader.batches:  # (none are left; this lets a tqdm over the batches finish)
        pass
    out = onnx.load(str(out_path))
    set_metadata(out, precision="int8", quantization=f"qdq-{method}-conv-symmetric-perchannel",
                 **({"input_format": metadata(model)["input_format"]}
                    if "input_format" in metadata(model) else {}))
    onnx.save(out, str(out_path))
    return exclude


def qdq_summary(model: onnx.ModelProto) -> dict[str, int]:
    """Counts that tell a Q/DQ model's shape: Q/DQ nodes, quantized and float convolutions."""
    ops = [n.op_type for n in model.graph.node]
    dq_outputs = {o for n in model.graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    quantized = sum(1 for n in convs if n.input[0] in dq_outputs and n.input[1] in dq_outputs)
    return {"quantize_linear": ops.count("QuantizeLinear"),
            "dequantize_linear": ops.count("DequantizeLinear"),
            "conv_int8": quantized, "conv_float": len(convs) - quantized}
