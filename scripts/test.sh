#!/usr/bin/env bash
# The test suite: the TensorRT layer type-checked against tensorrt-stubs, then unit tests of the
# core, conformance of every ONNX the tools write (TensorRT for RTX), live tests of the node over
# real ROS 2 / DDS.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_venv.sh
bash scripts/typecheck.sh
exec .venv/bin/python -m pytest -q "$@"
