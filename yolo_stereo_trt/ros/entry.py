"""The `stereo_detector` console script: SIGINT at any moment, even while the node's heavy
imports (rclpy, NumPy, ONNX Runtime) are still loading, ends the process with exit status 0 and
no traceback.

The console-script wrapper imports only this small module. While the node module is imported,
SIGINT is only noted (an interrupt inside a C extension's import otherwise surfaces as an
ImportError traceback, exit 1, or as a KeyboardInterrupt traceback); the process then exits 0
before starting anything. From then on the node's own main handles it.
"""
from __future__ import annotations

import signal
import sys

from .process import drop_interrupts_in_c_callbacks, keep_image_buffers_in_the_heap


def main(args: list[str] | None = None) -> None:
    interrupted: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: interrupted.append(signum))
    try:
        from .node import main as node_main
    finally:
        signal.signal(signal.SIGINT, previous)
    if interrupted:  # Ctrl-C during start-up: nothing to tear down yet
        sys.exit(0)
    keep_image_buffers_in_the_heap()
    drop_interrupts_in_c_callbacks()
    node_main(args)


if __name__ == "__main__":
    main()
