#!/usr/bin/env bash
# Creates .venv (Python 3.10+ with PyPI's ROS 2 wheels) and installs the package into it.
# Idempotent: re-running only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip 2>/dev/null || true
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
echo ".venv ready: $(ls .venv/bin | grep -cE '^(stereo_detector|detect_images|stereo_demo|make_demo_model|benchmark_host|benchmark_node|make_synthetic|evaluate|evaluate_bag|play_bag|stereo_accuracy|build_engine|quantize|benchmark|trt_check)$') console scripts in .venv/bin"
