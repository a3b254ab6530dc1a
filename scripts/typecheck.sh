#!/usr/bin/env bash
# Static check of the TensorRT layer against tensorrt-stubs (TensorRT cannot run without a GPU).
# The stubs go to .typecheck/ (not into .venv: their `tensorrt` stub package would make
# `import tensorrt` succeed there); scripts/fix_tensorrt_stubs.py repairs their invalid syntax.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f .typecheck/tensorrt/__init__.pyi ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
    --target .typecheck "tensorrt-stubs==10.13.0.35.1"
  .venv/bin/python scripts/fix_tensorrt_stubs.py .typecheck
fi
exec .venv/bin/python -m mypy yolo_stereo_trt/backends/ yolo_stereo_trt/engine/builder.py \
  yolo_stereo_trt/engine/plan.py yolo_stereo_trt/engine/calibration.py yolo_stereo_trt/engine/onnx_graph.py \
  yolo_stereo_trt/tools/build_engine.py
