"""The interface every backend offers."""
from __future__ import annotations

from ..core.backend import Backend, InputSpec, ModelLoadError

__all__ = ["Backend", "InputSpec", "ModelLoadError"]
