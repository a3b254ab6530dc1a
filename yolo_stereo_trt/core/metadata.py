"""Model metadata: class names, input size and batch, as Ultralytics writes them.

Ultralytics stores strings in ONNX ``metadata_props`` (and as JSON in its ``.engine`` header):
``names`` is a Python dict literal ``{0: 'blue_cone', ...}``, ``imgsz`` a list literal, ``batch``
an int. Parsed with ``ast.literal_eval`` (no code runs), validated, overridable by parameter.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence


class ModelConfigError(ValueError):
    """The model cannot be used as configured: its head layout, class names or class types.
    One line, naming what was found and how to settle it (refused at load, never per pair)."""


class ModelMetadataError(ModelConfigError):
    """The model's metadata is present but malformed."""


@dataclass
class ModelInfo:
    names: list[str] = field(default_factory=list)
    imgsz: tuple[int, int] | None = None  # (h, w)
    batch: int | None = None  # None = dynamic
    end2end: bool = False
    precision: str = "fp32"
    extra: dict[str, Any] = field(default_factory=dict)


def _literal(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
    return value


def parse_names(value: Any) -> list[str]:
    """``{0: 'a', 1: 'b'}`` / ``['a', 'b']`` (or their string forms) -> ``['a', 'b']``."""
    value = _literal(value)
    if isinstance(value, Mapping):
        try:
            keys = sorted(int(k) for k in value)
        except (TypeError, ValueError) as exc:
            raise ModelMetadataError(f"class name keys must be integers: {value!r}") from exc
        if keys != list(range(len(keys))):
            raise ModelMetadataError(f"class ids must be 0..n-1, got {keys}")
        lookup = {int(k): v for k, v in value.items()}
        return [str(lookup[k]) for k in keys]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    raise ModelMetadataError(f"cannot read class names from {value!r}")


def parse_imgsz(value: Any) -> tuple[int, int]:
    value = _literal(value)
    if isinstance(value, int):
        value = [value, value]
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, int) and v > 0 for v in value)):
        raise ModelMetadataError(f"imgsz must be [h, w] of positive ints, got {value!r}")
    return int(value[0]), int(value[1])


def parse_metadata(props: Mapping[str, Any]) -> ModelInfo:
    """Ultralytics metadata (ONNX metadata_props or engine header JSON) -> ModelInfo."""
    info = ModelInfo()
    if "names" in props:
        info.names = parse_names(props["names"])
    if "imgsz" in props:
        info.imgsz = parse_imgsz(props["imgsz"])
    if "batch" in props:
        batch = _literal(props["batch"])
        if not isinstance(batch, int) or batch < 1:
            raise ModelMetadataError(f"batch must be a positive int, got {props['batch']!r}")
        info.batch = batch
    info.end2end = str(props.get("end2end", "False")).lower() == "true"
    info.precision = str(props.get("precision", "fp32"))
    info.extra = {k: v for k, v in props.items()
                  if k not in ("names", "imgsz", "batch", "end2end", "precision")}
    return info


def resolve_class_names(model_names: Sequence[str], override: Sequence[str],
                        num_classes: int | None = None) -> list[str]:
    """The class names to use: the parameter override, else the model's metadata. A model
    without names needs the override; a count that disagrees with ``num_classes`` is refused."""
    names = [str(n) for n in override] if override else [str(n) for n in model_names]
    source = "class_names" if override else "the model's names metadata"
    if not names:
        raise ModelConfigError("the model has no class names in its metadata: set class_names "
                               "(one name per class, in class-id order)")
    if num_classes is not None and len(names) != num_classes:
        raise ModelConfigError(f"{source} lists {len(names)} classes ({', '.join(names)}) but "
                               f"the model outputs {num_classes}")
    return names
