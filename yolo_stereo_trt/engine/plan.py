"""What an engine build does, decided from the request and the TensorRT version (pure).

TensorRT 11 removed implicit INT8 (calibrators, BuilderFlag.INT8/FP16), so there INT8 means a
Q/DQ ONNX built strongly typed; TensorRT 10 still calibrates implicitly.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..backends.engine_file import trt_major


def int8_path(version: str, force: str | None = None) -> str:
    """'implicit' (calibrator, TensorRT <= 10) or 'explicit' (Q/DQ ONNX, strongly typed)."""
    major = trt_major(version)
    if force == "implicit" and major >= 11:
        raise ValueError(f"TensorRT {version} has no implicit INT8 (calibrators were removed in "
                         f"11): use the explicit Q/DQ path")
    if force in ("implicit", "explicit"):
        return force
    if force is not None:
        raise ValueError(f"unknown INT8 path {force!r}: implicit or explicit")
    return "explicit" if major >= 11 else "implicit"



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
