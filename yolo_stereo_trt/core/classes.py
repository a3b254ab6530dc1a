"""Cone types: ONE table of what a class means (colour, real size, marker), keyed by name.

A model's class ids are its own (the FSOCO converter numbers 0 yellow_cone, 1 blue_cone, ...;
alphabetical exports 0 blue_cone, 1 large_orange_cone, ...; a 10-class team model has
blue_cone = 7): meaning follows the class NAME, never the id. Each model class maps to one of
the canonical types below by its name; colours (debug image, markers), marker sizes, the cone
heights of evaluation and of any size gate come from the type.

Name -> type: case-insensitive; spaces and '-' read as '_'; a ``seg_`` prefix and a ``_cone``
suffix are ignored; then the aliases below (``blue``, ``yellow``, ``orange``/``small_orange``,
``large_orange``/``big_orange``/``orange_big``/``orange_large``, ``unknown``/``other``).
A name that maps to no type is drawn and measured as "unknown" and listed by ``describe()``.

Explicit override (the node's ``class_types`` parameter, a string array), either
  * entries ``"NAME:TYPE"`` (NAME a class name of the model, or its integer id), for the classes
    to fix, e.g. ``["cone_b:blue", "cone_y:yellow", "7:large_orange"]``; or
  * one TYPE per class, in class-id order, e.g. ``["yellow", "blue", "orange", "large_orange",
    "unknown"]``.
TYPE is one of the canonical types (or an alias above). A NAME the model does not have, a
type that is not one, or a list of the wrong length is refused (``ModelConfigError``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from .metadata import ModelConfigError


@dataclass(frozen=True)
class ConeType:
    name: str
    colour_bgr: tuple[int, int, int]  # debug image and markers
    base_m: float  # base width (m)
    height_m: float  # height (m)
    marker_alpha: float  # marker opacity (unknown cones fainter)


# The one table. Sizes: FSG/FSOCO competition cones (small 228 x 325 mm, large 285 x 505 mm).
CONE_TYPE_TABLE: tuple[ConeType, ...] = (
    ConeType("blue", (255, 80, 0), 0.228, 0.325, 0.9),
    ConeType("yellow", (0, 220, 255), 0.228, 0.325, 0.9),
    ConeType("orange", (0, 128, 255), 0.228, 0.325, 0.9),
    ConeType("large_orange", (0, 60, 255), 0.285, 0.505, 0.9),
    ConeType("unknown", (160, 160, 160), 0.228, 0.325, 0.6),
)
CONE_TYPES: tuple[str, ...] = tuple(t.name for t in CONE_TYPE_TABLE)
UNKNOWN = CONE_TYPES.index("unknown")
# The package's own class order (synthetic world, stand-in model, shipped demo model)
FSOCO_NAMES: tuple[str, ...] = tuple(f"{t}_cone" for t in CONE_TYPES)

_ALIASES = {
    "blue": "blue", "yellow": "yellow",
    "orange": "orange", "small_orange": "orange", "orange_small": "orange",
    "large_orange": "large_orange", "big_orange": "large_orange", "orange_big": "large_orange",
    "orange_large": "large_orange",
    "unknown": "unknown", "other": "unknown",
}

COLOURS_BGR = np.array([t.colour_bgr for t in CONE_TYPE_TABLE], np.uint8)  # (types, 3)
BASES_M = np.array([t.base_m for t in CONE_TYPE_TABLE], np.float64)
HEIGHTS_M = np.array([t.height_m for t in CONE_TYPE_TABLE], np.float64)
SIZES_M = np.stack([BASES_M, HEIGHTS_M], axis=1)  # (types, 2): base width, height


def normalize_name(name: str) -> str:
    """'Seg_Big-Orange_Cone' -> 'big_orange': lower case, '_' separators, no seg_/_cone."""
    key = re.sub(r"[\s\-]+", "_", str(name).strip().lower())
    key = re.sub(r"^seg_", "", key)
    key = re.sub(r"_cones?$", "", key)
    return key


def type_of_name(name: str) -> str | None:
    """The canonical type a class name means, or None when it means none."""
    return _ALIASES.get(normalize_name(name))


def _type_index(type_name: str, context: str) -> int:
    canonical = _ALIASES.get(normalize_name(type_name))
    if canonical is None:
        raise ModelConfigError(f"{context}: {type_name!r} is not a cone type (one of "
                               f"{', '.join(CONE_TYPES)})")
    return CONE_TYPES.index(canonical)


class ClassMap:
    """Model class ids -> names -> cone types, with vectorized lookups.

    ``type_index`` is (nc,) int64 into CONE_TYPE_TABLE; ids outside 0..nc-1 read as unknown.
    ``unmapped`` lists the names that mean no type (treated as unknown).
    """

    def __init__(self, names: Sequence[str], class_types: Sequence[str] = ()) -> None:
        self.names: tuple[str, ...] = tuple(str(n) for n in names)
        guessed = [type_of_name(n) for n in self.names]
        index = np.array([CONE_TYPES.index(t) if t else UNKNOWN for t in guessed], np.int64)
        overridden = np.zeros(len(self.names), bool)
        for class_id, type_idx in self._parse_overrides(class_types):
            index[class_id] = type_idx
            overridden[class_id] = True
        self.type_index = index
        self.unmapped: tuple[str, ...] = tuple(
            n for n, t, o in zip(self.names, guessed, overridden) if t is None and not o)
        # lookups, one row more for "out of range" ids (unknown)
        self._lut = np.append(index, UNKNOWN)

    def _parse_overrides(self, entries: Sequence[str]) -> Iterable[tuple[int, int]]:
        entries = [str(e).strip() for e in entries if str(e).strip()]
        if not entries:
            return []
        with_colon = [":" in e for e in entries]
        if all(with_colon):
            out = []
            lowered = {n.lower(): i for i, n in reversed(list(enumerate(self.names)))}
            for entry in entries:
                key, _, type_name = entry.rpartition(":")
                key = key.strip()
                if key.isdigit() and int(key) < len(self.names):
                    class_id = int(key)
                elif key.lower() in lowered:
                    class_id = lowered[key.lower()]
                else:
                    raise ModelConfigError(
                        f"class_types entry {entry!r}: the model has no class {key!r} (classes: "
                        f"{', '.join(f'{i} {n}' for i, n in enumerate(self.names))})")
                out.append((class_id, _type_index(type_name.strip(), f"class_types {entry!r}")))
            return out
        if any(with_colon):
            raise ModelConfigError("class_types: use either 'name:type' entries or one type per "
                                   "class, not both")
        if len(entries) != len(self.names):
            raise ModelConfigError(f"class_types lists {len(entries)} types but the model has "
                                   f"{len(self.names)} classes ({', '.join(self.names)}); or "
                                   f"give 'name:type' entries")
        return [(i, _type_index(t, "class_types")) for i, t in enumerate(entries)]

    def __len__(self) -> int:
        return len(self.names)

    @property
    def types(self) -> tuple[str, ...]:
        """The type name of each class id."""
        return tuple(CONE_TYPES[i] for i in self.type_index)

    def type_ids_of(self, class_ids: np.ndarray | Sequence[int]) -> np.ndarray:
        """(n,) type indices (into CONE_TYPES) of class ids; unknown for ids out of range."""
        ids = np.asarray(class_ids, np.int64)
        ids = np.where((ids >= 0) & (ids < len(self.names)), ids, len(self.names))
        return self._lut[ids]

    def types_of(self, class_ids: np.ndarray | Sequence[int]) -> np.ndarray:
        """(n,) type names (str array) of class ids."""
        return np.asarray(CONE_TYPES)[self.type_ids_of(class_ids)]

    def colours_of(self, class_ids: np.ndarray | Sequence[int]) -> np.ndarray:
        """(n, 3) uint8 BGR colours of class ids."""
        return COLOURS_BGR[self.type_ids_of(class_ids)]

    def heights_of(self, class_ids: np.ndarray | Sequence[int]) -> np.ndarray:
        """(n,) real cone heights (m) of class ids."""
        return HEIGHTS_M[self.type_ids_of(class_ids)]

    def sizes_of(self, class_ids: np.ndarray | Sequence[int]) -> np.ndarray:
        """(n, 2) real base widths and heights (m) of class ids."""
        return SIZES_M[self.type_ids_of(class_ids)]

    def colour(self, class_id: int) -> tuple[int, int, int]:
        b, g, r = self.colours_of([class_id])[0].tolist()
        return (b, g, r)

    def name(self, class_id: int) -> str:
        return self.names[class_id] if 0 <= class_id < len(self.names) else str(class_id)

    def describe(self) -> list[str]:
        """The lines to log at start: 'id -> name -> type' per class, then unmapped names once."""
        lines = [f"class {i} -> {n} -> {CONE_TYPES[t]}"
                 for i, (n, t) in enumerate(zip(self.names, self.type_index))]
        if self.unmapped:
            lines.append(f"classes that name no cone type, treated as unknown: "
                         f"{', '.join(self.unmapped)} (set class_types to map them)")
        return lines


def cone_size(type_name: str) -> tuple[float, float]:
    """(base width, height) in metres of a canonical type."""
    t = CONE_TYPE_TABLE[CONE_TYPES.index(type_name)]
    return t.base_m, t.height_m
