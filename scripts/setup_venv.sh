#!/usr/bin/env bash
# Creates .venv (Python 3.10+ with PyPI's ROS 2 wheels) and installs the package into it.
# Idempotent: re-running only installs what is missing; the package itself is installed again
# only when setup.py / setup.cfg changed. pip's output is shown only when it fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
quietly() {  # run pip; its log only when it fails
  if ! "$@" > .venv/pip.log 2>&1; then
    cat .venv/pip.log >&2
    echo "setup_venv: '$*' failed (log above)" >&2
    exit 1
  fi
}
.venv/bin/python -m pip install --quiet --upgrade pip > /dev/null 2>&1 || true  # offline: keep the old pip
quietly .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
stamp=$(cat setup.py setup.cfg | sha256sum | cut -c1-16)
if [ "$(cat .venv/.package_installed 2>/dev/null)" != "$stamp" ]; then
  quietly .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
  echo "$stamp" > .venv/.package_installed
fi
echo ".venv ready: $(ls .venv/bin | grep -cE '^(stereo_detector|detect_images|stereo_demo|make_demo_model|benchmark_host|benchmark_node|make_synthetic|evaluate|evaluate_bag|play_bag|stereo_accuracy|build_engine|quantize|benchmark|trt_check|check_stereo_rig)$') console scripts in .venv/bin"
