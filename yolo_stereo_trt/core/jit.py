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
import time
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

    def cache_state(self) -> tuple[bool, str]:
        """(whether Numba's on-disk cache holds this kernel for its current source, the cache
        folder): Numba writes beside the source (``__pycache__``: a venv, colcon's install/)
        and, where that is read-only, to a user cache folder (``NUMBA_CACHE_DIR`` overrides
        both). (False, "") where that cannot be told (no Numba, or its cache internals moved)."""
        if not AVAILABLE:
            return False, ""
        try:
            from numba.core.caching import FunctionCache
            cache = FunctionCache(self.py_func)
            return bool(cache._cache_file._load_index()), str(cache._cache_path)
        except Exception:  # noqa: BLE001 - private API: never a reason to fail
            return False, ""


def prepare(log: Callable[[str], None], stop: Callable[[], bool] = lambda: False) -> str:
    """Compile the kernels, or load them from the cache, before the first pair; ``log`` gets one
    line before a compile (the first start on a machine, or after the package changed: seconds)
    and the returned line says what happened and how long it took. ``stop`` is asked before each
    kernel (a compile takes seconds): once it says yes, the rest is left for later."""
    if not AVAILABLE:
        return ("host kernels: Numba is not installed: the stereo stage and the decode run as "
                "plain Python, far slower (pip install numba; rosdep key python3-numba)")
    states = [k.cache_state() for k in _KERNELS if k._compiled is None]
    to_compile = sum(1 for cached, _ in states if not cached)
    folder = next((path for _, path in states if path), "")
    if to_compile:
        log(f"host kernels: compiling {to_compile} of {len(_KERNELS)} (stereo matching and "
            f"refinement, decode + NMS; first start only, ~10-20 s)"
            + (f", cached in {folder}" if folder else ""))
    t0 = time.perf_counter()
    failed = warm_up(stop)
    seconds = time.perf_counter() - t0
    if stop():
        return "host kernels: not all prepared (stopped)"
    if failed:
        return (f"host kernels: {'; '.join(failed)}: they run as plain Python, far slower "
                f"(see the Numba error above)")
    how = "compiled" if to_compile else "loaded from the cache"
    return (f"host kernels: Numba {VERSION}, {how} in {seconds:.1f} s"
            + (f" ({folder})" if folder else ""))


def warm_up(stop: Callable[[], bool] = lambda: False) -> list[str]:
    """Compile (or load from the cache) every kernel now, not on the first pair, until ``stop``
    says yes; returns why each kernel that is not compiled is not (empty: all compiled)."""
    if not AVAILABLE:
        return ["Numba is not installed"]
    for k in _KERNELS:
        if stop():
            break
        k.compile()
    return [k.error for k in _KERNELS if k.error]
