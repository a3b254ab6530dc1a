#!/usr/bin/env bash
# The test suite: unit tests of the core and live tests of the node over real ROS 2 / DDS.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_venv.sh
exec .venv/bin/python -m pytest -q "$@"
