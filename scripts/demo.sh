#!/usr/bin/env bash
# The main job: the real stereo_detector node on synthetic stereo pairs, ONNX Runtime on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_venv.sh
exec .venv/bin/stereo_demo "$@"
