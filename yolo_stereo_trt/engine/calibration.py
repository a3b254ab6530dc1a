"""Calibration inputs: images from a folder or a YOLO data.yaml split, preprocessed by the
node's letterbox (the same Preprocessor), batched at the engine's batch; a cache key that changes
with the model bytes, the preprocessing, the image list and the algorithm.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..core.preprocess import PAD_VALUE, Preprocessor

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
PREPROCESS_VERSION = "letterbox-ultralytics-8.4/v1"  # bump when the preprocessing changes


def list_calibration_images(source: str | Path, max_images: int | None = None,
                            split: str = "val") -> list[Path]:
    """Image files of a folder (recursively) or of a YOLO data.yaml split, sorted; ALL of them
    unless ``max_images`` caps (evenly spaced, so the cap still covers the whole set)."""
    src = Path(source)
    if src.is_file() and src.suffix in (".yaml", ".yml"):
        import yaml
        data = yaml.safe_load(src.read_text()) or {}
        if split not in data:
            raise FileNotFoundError(f"{src} has no {split!r} split (keys: {sorted(data)})")
        root = Path(data["path"]) if data.get("path") else src.parent
        if data.get("path") and not root.is_absolute():
            root = src.parent / root
        entries = data[split] if isinstance(data[split], list) else [data[split]]
        files: list[Path] = []
        for entry in entries:
            p = Path(entry) if Path(entry).is_absolute() else root / entry
            files += list_calibration_images(p) if p.is_dir() else \
                [Path(line.strip()) for line in p.read_text().splitlines() if line.strip()]
    elif src.is_dir():
        files = sorted(p for p in src.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    else:
        raise FileNotFoundError(f"{src} is neither an images folder nor a data.yaml")
    if not files:
        raise FileNotFoundError(f"no images in {src}")
    if max_images is not None and max_images < len(files):
        idx = np.linspace(0, len(files) - 1, max_images).round().astype(int)
        files = [files[i] for i in idx]
    return files


def calibration_batches(files: Sequence[Path], input_hw: tuple[int, int], batch: int,
                        layout: str = "nchw_float") -> Iterator[np.ndarray]:
    """Model-input batches of the images, letterboxed by the inference Preprocessor. The last
    batch is completed with the first images so every image is used (calibrators and static
    engines need full batches). Unreadable images raise, naming the file."""
    import cv2
    pre = Preprocessor(input_hw, batch=batch, layout=layout)
    order = list(files) + list(files[:(-len(files)) % batch])
    for k in range(0, len(order), batch):
        frames = []
        for path in order[k:k + batch]:
            img = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if img is None:
                raise ValueError(f"cannot read calibration image {path}")
            frames.append(img)
        out, _ = pre(frames)
        yield out.copy()


def calibration_cache_key(model_bytes: bytes, input_hw: Sequence[int], layout: str, batch: int,
                          files: Sequence[Path], algorithm: str) -> str:
    """Changes whenever the calibration would: model, preprocessing, images, algorithm."""
    h = hashlib.sha256()
    h.update(hashlib.sha256(model_bytes).digest())
    h.update(json.dumps([PREPROCESS_VERSION, PAD_VALUE, list(map(int, input_hw)), layout, batch,
                         algorithm, [str(Path(f).resolve()) for f in files]]).encode())
    for f in files:
        st = Path(f).stat()
        h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def read_calibration_cache(path: Path, key: str) -> bytes | None:
    """The cached calibration table if ``path`` holds one made under ``key``, else None."""
    key_file = Path(str(path) + ".key")
    if not Path(path).is_file() or not key_file.is_file():
        return None
    if key_file.read_text().strip() != key:
        return None
    return Path(path).read_bytes()


def write_calibration_cache(path: Path, key: str, table: bytes) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(table)
    Path(str(path) + ".key").write_text(key + "\n")
