"""Process-wide settings of the node's executable, in one small module the entry point, the
inputs and the worker share (no rclpy): heap thresholds for image buffers, OS thread names,
SIGINT and SIGTERM during start-up and the teardown, SIGINT inside C callbacks."""
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


def ignore_stop_signals() -> None:
    """SIGINT and SIGTERM ignored from here on (the teardown)."""
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)


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
    Numba compiles the kernels at a configure asked over the lifecycle service; at start-up
    SIGINT is only noted, `StartupSignals`) surfaces as KeyboardInterrupt inside the callback,
    where Python can only print it ("Exception ignored ... Traceback"); rclpy has shut the
    context down by then and the node exits 0 as usual. Only that print is dropped: every other
    unraisable exception still reaches the previous hook."""
    previous = sys.unraisablehook

    def hook(unraisable: "sys.UnraisableHookArgs") -> None:
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            previous(unraisable)
    sys.unraisablehook = hook


class StartupSignals:
    """From construction until `hand_over()`, SIGINT and SIGTERM are only noted (`seen`), never
    raised: the start-up (heavy imports, `rclpy.init`, the node's construction, the model load)
    runs to a point where the caller checks `seen` and stops cleanly. An interrupt raised inside
    a C extension's import surfaces as an ImportError; one inside `rclpy.init` as a traceback;
    and rclpy's own handler, installed by `rclpy.init`, shuts the context down from another
    thread while the main thread is still creating the node's publishers (measured here: a
    SIGSEGV or a traceback about once in 150 start-ups interrupted at random). SIGTERM is noted
    too: `ros2 launch` sends it 5 s after its SIGINT, and its default action ends the process
    at once, exit -15, nothing torn down."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.seen = False
        self._previous = {s: signal.signal(s, self._note) for s in self.SIGNALS}

    def _note(self, signum: int, frame: object) -> None:
        self.seen = True

    def hand_over(self) -> None:
        """The handlers found at construction (Python's: SIGINT raises KeyboardInterrupt) from
        here on; the caller installs rclpy's handlers next, which chain to them, and checks
        `seen` once more after this call."""
        for s, previous in self._previous.items():
            signal.signal(s, previous if previous is not None else signal.SIG_DFL)
