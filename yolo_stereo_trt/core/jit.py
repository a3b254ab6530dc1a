"""Numba, when installed: the few loops that NumPy cannot vectorize (per-cone correlation,
greedy NMS) are compiled; without Numba they run as the same plain Python, correct and slower
(``AVAILABLE`` says which; the node logs it at start).

``inline`` compiles a helper into the kernels that call it. ``kernel(fn, signature)`` makes an
entry point that compiles on its first call (or at ``warm_up``), for one explicit signature,
cached on disk (``cache=True``: ~1-3 s once per machine, then ~0.1-0.3 s per process from
``__pycache__``), releasing the GIL while it runs, with IEEE float semantics (a division by
zero gives inf or NaN as in NumPy, never an exception).
"""
from __future__ import annotations

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


class Kernel:
    """``fn`` compiled for ``signature(numba.types)`` at its first call; ``fn`` without Numba.
    ``py_func`` is the plain Python function either way."""

    def __init__(self, fn: Callable, signature: Callable[[Any], Any]) -> None:
        self.py_func, self.signature = fn, signature
        self._compiled: Callable | None = None if AVAILABLE else fn
        self._lock = threading.Lock()
        _KERNELS.append(self)

    def compile(self) -> Callable:
        with self._lock:
            if self._compiled is None:
                self._compiled = numba.njit(self.signature(numba.types), cache=True,
                                            **_OPTIONS)(self.py_func)
            return self._compiled

    def __call__(self, *args: Any) -> Any:
        return (self._compiled or self.compile())(*args)


def kernel(fn: Callable, signature: Callable[[Any], Any]) -> Kernel:
    return Kernel(fn, signature)


def warm_up() -> bool:
    """Compile (or load from the cache) every kernel now, not on the first pair; False
    without Numba."""
    for k in _KERNELS:
        k.compile()
    return AVAILABLE
