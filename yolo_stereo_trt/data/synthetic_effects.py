"""2D camera effects and video overlays of the randomized synthetic world.

Everything here acts on finished images, never on geometry: the parameters are drawn ONCE per
pair (:func:`draw_effects`) and applied identically to both views, so nothing moves in one view
and not the other. Overlays are the only effect that hides scene content: their mask is given
to the renderer before the visible-part boxes are computed (labels stay exact).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class Effects:
    gain: float = 1.0  # exposure (under / over: clipped at 0 and 255)
    gamma: float = 1.0
    white: tuple[float, float, float] = (1.0, 1.0, 1.0)
    vignette: float = 0.0  # darkening at the corners (fraction)
    focus_sigma: float = 0.0  # Gaussian (defocus) blur, px
    motion_length: int = 0  # linear motion blur, px (0: none)
    motion_angle: float = 0.0  # degrees from the image x axis
    rolling_amp: float = 0.0  # row-wise exposure banding (rolling shutter under flicker)
    rolling_period: float = 100.0
    rolling_phase: float = 0.0
    noise_sigma: float = 2.0
    jpeg_quality: int = 0  # 0: no JPEG round trip
    flare: tuple[float, float, float] | None = None  # (u, v, strength): sun in or near the frame


def draw_effects(rng: np.random.Generator, strength: float) -> Effects:
    """Camera effects for one pair (both views)."""
    s = strength
    e = Effects()
    e.gain = float(np.exp(rng.uniform(-0.9, 0.55) * s))  # 0.41x .. 1.73x at strength 1
    e.gamma = float(np.exp(rng.uniform(-0.3, 0.3) * s))
    e.white = tuple(float(v) for v in rng.uniform(1 - 0.12 * s, 1 + 0.12 * s, 3))
    e.vignette = float(rng.uniform(0, 0.5 * s)) if rng.uniform() < 0.5 else 0.0
    e.focus_sigma = float(rng.uniform(0.4, 1.4 * s + 0.4)) if rng.uniform() < 0.35 * s else 0.0
    if rng.uniform() < 0.25 * s:
        e.motion_length = int(rng.integers(3, 4 + int(10 * s)))
        e.motion_angle = float(rng.normal(0, 15))
    if rng.uniform() < 0.15 * s:
        e.rolling_amp = float(rng.uniform(0.03, 0.15 * s + 0.03))
        e.rolling_period = float(rng.uniform(30, 300))
        e.rolling_phase = float(rng.uniform(0, 2 * np.pi))
    e.noise_sigma = float(rng.uniform(1.0, 1.0 + 7.0 * s))
    e.jpeg_quality = int(rng.integers(20, 90)) if rng.uniform() < 0.5 * s else 0
    if rng.uniform() < 0.15 * s:
        e.flare = (float(rng.uniform(0.05, 0.95)), float(rng.uniform(-0.15, 0.35)),
                   float(rng.uniform(0.4, 1.0)))
    return e


def _motion_kernel(length: int, angle: float) -> np.ndarray:
    k = np.zeros((length, length), np.float32)
    c = (length - 1) / 2
    dx, dy = np.cos(np.radians(angle)) * c, np.sin(np.radians(angle)) * c
    cv2.line(k, (int(round(c - dx)), int(round(c - dy))), (int(round(c + dx)), int(round(c + dy))),
             1.0, 1)
    return k / max(k.sum(), 1e-6)


def _flare_layer(h: int, w: int, u: float, v: float, strength: float) -> np.ndarray:
    """Additive glow at the sun plus ghosts along the line through the image centre."""
    layer = np.zeros((h, w, 3), np.float32)
    sx, sy = u * w, v * h
    cx, cy = w / 2, h / 2
    cv2.circle(layer, (int(sx), int(sy)), int(0.06 * w), (255, 255, 255), -1, cv2.LINE_AA)
    colours = ((180, 230, 255), (255, 200, 160), (200, 255, 200), (230, 180, 255))
    for i, t in enumerate((0.6, 1.3, 1.7, 2.2)):
        gx, gy = sx + (cx - sx) * t, sy + (cy - sy) * t
        r = int(w * (0.015 + 0.02 * ((i * 7) % 3)))
        cv2.circle(layer, (int(gx), int(gy)), r, tuple(c * 0.35 for c in colours[i]), -1,
                   cv2.LINE_AA)
    layer = cv2.GaussianBlur(layer, (0, 0), 0.02 * w)
    return layer * strength


def apply_effects(img: np.ndarray, e: Effects, rng: np.random.Generator) -> np.ndarray:
    """float32 BGR scene -> float32 image as the camera records it (before overlays)."""
    h, w = img.shape[:2]
    img = img * (e.gain * np.float32(e.white))
    if e.vignette > 0:
        yy, xx = np.ogrid[:h, :w]
        r2 = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2
        img *= (1 - e.vignette * (r2 / 2)).astype(np.float32)[..., None]
    if e.flare is not None:
        img += _flare_layer(h, w, *e.flare)
    if e.focus_sigma > 0:
        img = cv2.GaussianBlur(img, (0, 0), e.focus_sigma)
    if e.motion_length > 1:
        img = cv2.filter2D(img, -1, _motion_kernel(e.motion_length, e.motion_angle))
    if e.rolling_amp > 0:
        rows = np.arange(h, dtype=np.float32)
        band = 1 + e.rolling_amp * np.sin(2 * np.pi * rows / e.rolling_period + e.rolling_phase)
        img *= band[:, None, None]
    img = np.clip(img, 0, 255)
    if e.gamma != 1.0:
        img = 255 * cv2.pow(img * np.float32(1 / 255), e.gamma)
    img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(e.noise_sigma)
    return img


def jpeg_round_trip(img: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else img


# --- overlays ----------------------------------------------------------------------------

@dataclass
class Overlay:
    """Burned-in video text: drawn at the same image position in both views."""
    colour: np.ndarray  # (h,w,3) float32 overlay colour
    alpha: np.ndarray  # (h,w) float32 coverage; >= 0.5 hides the scene (labels)


def draw_overlay(rng: np.random.Generator, width: int, height: int) -> Overlay:
    colour = np.zeros((height, width, 3), np.float32)
    alpha = np.zeros((height, width), np.float32)
    texts = []
    if rng.uniform() < 0.8:
        texts.append(f"20{rng.integers(15, 26)}-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d}"
                     f" {rng.integers(0, 24):02d}:{rng.integers(0, 60):02d}:"
                     f"{rng.integers(0, 60):02d}.{rng.integers(0, 1000):03d}")
    if rng.uniform() < 0.7:
        texts.append(f"{rng.integers(0, 110)} km/h" if rng.uniform() < 0.7 else
                     f"v={rng.uniform(0, 30):.1f} m/s")
    if rng.uniform() < 0.4:
        texts.append(rng.choice(["CAM0", "LAP 3", "REC", "FSG 2023", "AUTOX", "EBS OK",
                                 f"frame {rng.integers(0, 99999)}"]))
    if not texts:
        texts.append("REC")
    scale = rng.uniform(0.5, 1.4) * width / 1280
    thick = max(1, int(round(scale * rng.uniform(1.2, 2.5))))
    text_colour = [(255, 255, 255), (0, 255, 255), (0, 220, 0), (40, 40, 40)][
        int(rng.integers(0, 4))]
    corner = int(rng.integers(0, 4))
    box = rng.uniform() < 0.5
    y = int(height * (0.06 if corner < 2 else 0.8))
    for text in texts:
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        x = int(width * 0.02) if corner % 2 == 0 else int(width * 0.98) - tw
        y += th + base + 4
        if box:
            cv2.rectangle(alpha, (x - 4, y - th - 4), (x + tw + 4, y + base + 2), 0.6, -1)
        m = np.zeros((height, width), np.uint8)
        cv2.putText(m, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, thick, cv2.LINE_AA)
        a = m.astype(np.float32) / 255
        colour[a > 0] = text_colour
        alpha = np.maximum(alpha, a)
    return Overlay(colour, alpha)


def apply_overlay(img: np.ndarray, overlay: Overlay) -> np.ndarray:
    a = overlay.alpha[..., None]
    return img * (1 - a) + overlay.colour * a
