"""The `stereo_detector` console script: SIGINT at any moment, even while the node's heavy
imports (rclpy, NumPy, ONNX Runtime) are still loading, ends the process with exit status 0 and
no traceback.

The console-script wrapper imports only this small module. Until the node is ready to spin,
SIGINT and SIGTERM are only noted (`process.StartupSignals`); the node's main checks after
each start-up step (and configure between its steps) and stops cleanly, exit 0. Then rclpy's
own handlers take over.
"""
from __future__ import annotations

import faulthandler
import sys

from .process import (StartupSignals, drop_interrupts_in_c_callbacks,
                      keep_image_buffers_in_the_heap)


USAGE = """usage: stereo_detector [-h] --ros-args -p model_path:=MODEL [-p NAME:=VALUE ...]
                       [--params-file FILE]

The stereo cone detector node (ROS 2 lifecycle node, autostart by default). On the car:
  ros2 launch yolo_stereo_trt stereo_detector.launch.py model_path:=MODEL.engine camera:=/zed
or directly:
  ros2 run yolo_stereo_trt stereo_detector --ros-args -p model_path:=MODEL.engine
  stereo_detector --ros-args --params-file config/params.yaml -p model_path:=MODEL.onnx
Exit status: 0 after Ctrl-C or SIGTERM, 2 when the node cannot start (one-line reason).

parameters (-p NAME:=VALUE; `ros2 param describe` shows ranges and choices):"""


def command_line(argv: list[str]) -> tuple[int, str] | None:
    """What the arguments before ``--ros-args`` ask (argv without the program name): (0, the
    usage and the parameters) for -h / --help, (2, a one-line reason) for anything else, None
    for none (the node starts; rclpy reads the ROS arguments)."""
    own = argv[:argv.index("--ros-args")] if "--ros-args" in argv else list(argv)
    if not own:
        return None
    if "-h" in own or "--help" in own:
        import textwrap

        from ..core.params import PARAMS
        lines = [USAGE]
        for spec in PARAMS:
            default = (str(spec.default).lower() if isinstance(spec.default, bool)
                       else "''" if spec.default == "" else spec.default)  # as YAML says it
            lines.append(f"  {spec.name} (default {default})")
            lines += textwrap.wrap(spec.description, 92, initial_indent="      ",
                                   subsequent_indent="      ")
        return 0, "\n".join(lines)
    return 2, (f"[stereo_detector] cannot start: unknown argument {own[0]!r}: parameters go "
               "after --ros-args, e.g. stereo_detector --ros-args -p model_path:=MODEL "
               "(--help lists them)")


def main(args: list[str] | None = None) -> None:
    asked = command_line(list(sys.argv[1:] if args is None else args[1:]))
    if asked is not None:
        code, text = asked
        print(text, file=sys.stdout if code == 0 else sys.stderr, flush=True)
        sys.exit(code)
    try:  # a crash in native code (rclpy, the DDS, ONNX Runtime, a CUDA driver) prints every
        # Python thread's stack to the process's stderr, beside "Segmentation fault"
        faulthandler.enable()
    except (AttributeError, OSError, RuntimeError, ValueError):  # no stderr, or one without
        pass  # a file descriptor (2>&-, an embedding host's): no stacks, the node runs as before
    stop_signal = StartupSignals()
    from .node import main as node_main
    if stop_signal.seen:  # Ctrl-C during the imports: nothing to tear down yet
        sys.exit(0)
    keep_image_buffers_in_the_heap()
    drop_interrupts_in_c_callbacks()
    node_main(args, stop_signal)


if __name__ == "__main__":
    main()
