"""Numba, when installed: the few loops that NumPy cannot vectorize (per-cone correlation,
the head's candidates, greedy NMS) are compiled; without Numba they run as the same plain
Python, correct and slower (``AVAILABLE`` says which; the node logs it at start).

``inline`` compiles a helper into the kernels that call it. ``Kernel(fn, signature)`` makes an
entry point that compiles on its first call (or at ``warm_up``), for one explicit signature,
cached on disk (``cache=True``: ~1-3 s once per machine, then ~0.1-0.3 s per process from
``__pycache__``), releasing the GIL while it runs, with IEEE float semantics (a division by
zero gives inf or NaN as in NumPy, never an exception).
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable

try:
    import numba
except ImportError:  # pragma: no cover - plain Python
    numba = None

AVAILABLE = numba is not None
VERSION = numba.__version__ if numba is not None else None
_OPTIONS: dict[str, Any] = dict(nogil=True, error_model="numpy")
_KERNELS: list["Kernel"] = []


def inline(fn: Callable) -> Callable:
    return numba.njit(**_OPTIONS)(fn) if AVAILABLE else fn


def python(fn: Callable) -> Callable:
    """The plain Python function behind an ``inline`` one."""
    return getattr(fn, "py_func", fn)


class Kernel:
    """``fn`` compiled for ``signature(numba.types)`` at its first call; ``fn`` without Numba.
    ``py_func`` is the plain Python function either way. Where the on-disk cache cannot be
    written (a read-only install without a writable home) it compiles without one; where
    compiling fails at all, the plain function serves and ``error`` says why."""

    def __init__(self, fn: Callable, signature: Callable[[Any], Any]) -> None:
        self.py_func, self.signature = fn, signature
        self._compiled: Callable | None = None if AVAILABLE else fn
        self.error = ""
        self._lock = threading.Lock()
        _KERNELS.append(self)

    def compile(self) -> Callable:
        with self._lock:
            if self._compiled is None:
                for cache in (True, False):
                    try:
                        self._compiled = numba.njit(self.signature(numba.types), cache=cache,
                                                    **_OPTIONS)(self.py_func)
                        break
                    except Exception as exc:  # noqa: BLE001 - any compiler failure
                        self.error = f"{self.py_func.__name__}: {type(exc).__name__}: {exc}"
                if self._compiled is None:
                    logging.getLogger(__name__).warning(
                        "Numba could not compile %s; it runs as plain Python", self.error)
                    self._compiled = self.py_func
                else:
                    self.error = ""
            return self._compiled

    def __call__(self, *args: Any) -> Any:
        return (self._compiled or self.compile())(*args)


def warm_up() -> list[str]:
    """Compile (or load from the cache) every kernel now, not on the first pair; returns why
    each kernel that is not compiled is not (empty: all compiled)."""
    if not AVAILABLE:
        return ["Numba is not installed"]
    for k in _KERNELS:
        k.compile()
    return [k.error for k in _KERNELS if k.error]
