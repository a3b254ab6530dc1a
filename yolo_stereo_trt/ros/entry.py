"""The `stereo_detector` console script: SIGINT at any moment, even while the node's heavy
imports (rclpy, NumPy, ONNX Runtime) are still loading, ends the process with exit status 0 and
no traceback.

The console-script wrapper imports only this small module. Until the node is ready to spin,
SIGINT and SIGTERM are only noted (`process.StartupSignals`); the node's main checks after
each start-up step (and configure between its steps) and stops cleanly, exit 0. Then rclpy's
own handlers take over.
"""
from __future__ import annotations

import sys

from .process import (StartupSignals, drop_interrupts_in_c_callbacks,
                      keep_image_buffers_in_the_heap)


def main(args: list[str] | None = None) -> None:
    stop_signal = StartupSignals()
    from .node import main as node_main
    if stop_signal.seen:  # Ctrl-C during the imports: nothing to tear down yet
        sys.exit(0)
    keep_image_buffers_in_the_heap()
    drop_interrupts_in_c_callbacks()
    node_main(args, stop_signal)


if __name__ == "__main__":
    main()
