"""The interface every backend offers."""
from __future__ import annotations

from ..core.backend import Backend, InputSpec

__all__ = ["Backend", "InputSpec", "ModelLoadError"]


class ModelLoadError(RuntimeError):
    """The model file cannot be loaded (missing, corrupt, unsupported)."""
