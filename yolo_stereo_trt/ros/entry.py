"""The `stereo_detector` console script: SIGINT at any moment, even while the node's heavy
imports (rclpy, NumPy, ONNX Runtime) are still loading, ends the process with exit status 0 and
no traceback.

The console-script wrapper imports only this small module. While the node module is imported,
SIGINT is only noted (an interrupt inside a C extension's import otherwise surfaces as an
ImportError traceback, exit 1, or as a KeyboardInterrupt traceback); the process then exits 0
before starting anything. From then on the node's own main handles it.
"""
from __future__ import annotations

import ctypes
import signal
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters


def keep_image_buffers_in_the_heap(mmap_threshold: int = 32 << 20,
                                   trim_threshold: int = 256 << 20) -> bool:
    """Serve image-sized allocations (2.7 MB messages, decoded frames) from the heap and keep
    freed ones there for the next pair: glibc's default moves its mmap threshold up and down
    with the allocations, so such buffers alternate between fresh mmaps (a page fault per 4 KiB:
    measured +8 ms of CPU and latency per 1280x720 pair here) and heap chunks that are trimmed
    and regrown (resident memory wandering by a few percent). Fixed thresholds end both: the
    heap grows to the working set once and stays. A no-op where the C library is not glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold)
                    and libc.mallopt(M_TRIM_THRESHOLD, trim_threshold))
    except (OSError, AttributeError):
        return False


PR_SET_NAME = 15  # prctl: the calling thread's name (/proc/<pid>/task/<tid>/comm, top -H)


def name_this_thread(name: str) -> None:
    """Give the calling thread an OS-visible name (15 bytes; Linux), so `top -H` and
    benchmark_node tell the node's threads apart. A no-op elsewhere."""
    try:
        ctypes.CDLL("libc.so.6").prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)
    except (OSError, AttributeError):
        pass


def drop_interrupts_in_c_callbacks() -> None:
    """A SIGINT that lands while C code runs a Python callback (LLVM's cache notifications while
    Numba compiles the kernels at configure) surfaces as KeyboardInterrupt inside the callback,
    where Python can only print it ("Exception ignored ... Traceback"); rclpy has shut the
    context down by then and the node exits 0 as usual. Only that print is dropped: every other
    unraisable exception still reaches the previous hook."""
    previous = sys.unraisablehook

    def hook(unraisable: "sys.UnraisableHookArgs") -> None:
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            previous(unraisable)
    sys.unraisablehook = hook


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
