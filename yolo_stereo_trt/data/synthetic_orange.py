"""Orange cones as real events use them (issue 22): the ``orange`` switch of the randomized world.

The issue-14 world showed orange cones rarely and only near the car: large orange ones in a
start area within the first four cone positions (35 % of frames), a few loose small ones. A
detector trained on it never saw a large orange cone 10-30 m away. Real tracks (FSG competition
handbook, DV track marking) use
- large orange cones (285 x 505 mm) in pairs on both sides of every start, finish and
  timekeeping line, anywhere along the course seen from the car;
- small orange cones (228 x 325 mm) for entry and exit lanes (skidpad) and the braking zone
  after the acceleration finish: whole stretches where both borders are orange;
- test tracks marked with ordinary road traffic cones (tall, slim, red-orange, one wide white
  reflective band, often a second narrow one);
- spare and knocked-over cones beside the track.
Their look varies: red-orange to yellow-orange plastic, bright in the sun, dark and bluish in
shade; the FSG small orange cone has one white band (like the blue one), the large one two wide
white bands, older cones two narrow stripes; white retroreflective sheeting looks grey unless
lit head-on; FSG cones stand on a wide base skirt in their own colour, traffic cones often on a
black rubber base; the body is slimmer than its base.

This module only decides (from its own random stream): where extra orange cones stand, which
track cones become orange, and an orange cone's style. The randomized renderer draws them, so
labels and stereo ground truth stay exact (cone heights are the class heights; only radii,
colours and stripes vary)."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import cKDTree

ORANGE, LARGE_ORANGE = 2, 3
STREAM = 0x4F52414E  # "ORAN": the switch's own random stream, default_rng([seed, STREAM])


@dataclass
class OrangeStyle:
    """How one orange cone looks: BGR colours (before the renderer's shading), stripes as
    (from, to) fractions of the height, the body's bottom radius as a fraction of the base width
    and its top radius as a fraction of the bottom one."""

    body: np.ndarray
    stripe: np.ndarray
    plate: np.ndarray
    stripes: tuple[tuple[float, float], ...]
    radius: float
    top: float
    kind: str


def _spaced(xz: np.ndarray, classes: np.ndarray, n_old: int
            ) -> tuple[np.ndarray, np.ndarray]:
    """Drop added cones (index >= n_old) that stand within 40 cm of another cone."""
    if len(xz) < 2:
        return xz, classes
    pairs = cKDTree(xz).query_pairs(0.4, output_type="ndarray")
    drop = np.unique(pairs[:, 1][pairs[:, 1] >= n_old]) if len(pairs) else np.zeros(0, int)
    return np.delete(xz, drop, 0), np.delete(classes, drop)


def orange_layout(rng: np.random.Generator, xz: np.ndarray, classes: np.ndarray,
                  line: np.ndarray, half_width: float, max_range: float, strength: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The track's cones with more orange ones, the way events place them (see the module
    docstring): timekeeping gates of large orange cones anywhere along the visible track, a
    stretch with orange borders, sometimes a border of large (traffic) cones, loose orange
    cones beside the track. Returns (xz (n,2), class ids); the track's own cones come first and
    keep their positions."""
    s = strength
    xz, classes = xz.copy(), classes.copy()
    n_old = len(xz)
    tangent = np.gradient(line, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    normal_left = np.stack([-tangent[:, 1], tangent[:, 0]], 1)
    visible = np.flatnonzero((line[:, 1] > 2.5) & (line[:, 1] < max_range - 1.0))
    new_xz, new_cls = [], []
    if len(visible):
        for p in (0.4 * s, 0.15 * s):  # a start / finish / timekeeping line, sometimes two
            if rng.uniform() >= p:
                continue
            j = int(rng.choice(visible))
            gap = rng.uniform(0.5, 1.5) / 0.25  # two cones per side, along the track
            out = half_width + rng.uniform(0.2, 0.6)
            for k in (j, min(len(line) - 1, j + int(round(gap)))):
                for side in (1.0, -1.0):
                    new_xz.append(line[k] + side * out * normal_left[k]
                                  + rng.normal(0, 0.04, 2))
                    new_cls.append(LARGE_ORANGE)
    track = np.flatnonzero(classes < 2)
    if len(track) and rng.uniform() < 0.25 * s:  # entry / exit lane, braking zone: orange borders
        z0 = rng.uniform(2.0, max(max_range - 8.0, 2.5))
        inside = track[(xz[track, 1] >= z0) & (xz[track, 1] < z0 + rng.uniform(6.0, 20.0))]
        classes[inside] = ORANGE
    if len(track) and rng.uniform() < 0.08 * s:  # a test track bordered by traffic cones
        side = int(rng.integers(2))
        classes[track[classes[track] == side]] = LARGE_ORANGE
    for _ in range(int(rng.poisson(0.8 * s))):  # loose / spare orange cones beside the track
        j = int(rng.integers(8, len(line)))
        side = rng.choice([-1.0, 1.0])
        new_xz.append(line[j] + side * rng.uniform(half_width + 0.5, half_width + 4.0)
                      * normal_left[j])
        new_cls.append(int(rng.choice([ORANGE, LARGE_ORANGE])))
    if new_xz:
        xz = np.vstack([xz, np.array(new_xz)])
        classes = np.append(classes, np.array(new_cls, np.int64))
    keep = (np.arange(len(xz)) < n_old) | ((xz[:, 1] > 1.8) & (xz[:, 1] < max_range))
    xz, classes = xz[keep], classes[keep]
    xz, classes = _spaced(xz, classes, n_old)
    return xz, classes.astype(np.int64)


def _orange(rng: np.random.Generator, hue: tuple[float, float]) -> np.ndarray:
    """An orange plastic colour (BGR float32): hue in degrees, saturated, bright."""
    hsv = np.uint8([[[rng.uniform(*hue) / 2, rng.uniform(200, 255), rng.uniform(215, 255)]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)


def _band(rng: np.random.Generator, centre: float, width: float, jitter: float = 0.03
          ) -> tuple[float, float]:
    c = centre + rng.uniform(-jitter, jitter)
    w = width * rng.uniform(0.8, 1.2)
    return (round(float(c - w / 2), 4), round(float(c + w / 2), 4))


def orange_style(rng: np.random.Generator, class_id: int, strength: float) -> OrangeStyle:
    """The look of one small (2) or large (3) orange cone: an FSG cone (small: one white band;
    large: two wide white bands; base skirt in its own colour), an older two-stripe cone (black
    base), or a road traffic cone (slim, red-orange, one wide reflective band and sometimes a
    narrow one above it, black or orange base); colour from red-orange to yellow-orange, lit
    by the sun or standing in shade, white or grey (retroreflective) bands, some fading."""
    s = strength
    kind = str(rng.choice(["fsg", "two_stripes", "traffic"], p=[0.45, 0.2, 0.35]))
    black = np.float32([25, 25, 28])
    white = np.float32([rng.uniform(235, 252)] * 3)
    if rng.uniform() < 0.35:  # retroreflective sheeting off-axis: silver grey, slightly cool
        white = np.float32([rng.uniform(170, 215)] * 3) * np.float32([1.04, 1.0, 0.97])
    if kind == "fsg":
        body = _orange(rng, (14.0, 30.0))
        stripes = ((_band(rng, 0.54, 0.17),) if class_id == ORANGE else
                   (_band(rng, 0.36, 0.15), _band(rng, 0.66, 0.15)))
        plate = body * np.float32(rng.uniform(0.85, 1.0))
        radius, top = rng.uniform(0.34, 0.42), rng.uniform(0.14, 0.22)
    elif kind == "two_stripes":
        body = _orange(rng, (12.0, 30.0))
        stripes = ((_band(rng, 0.44, 0.11), _band(rng, 0.67, 0.09)) if class_id == ORANGE else
                   (_band(rng, 0.41, 0.12), _band(rng, 0.66, 0.12)))
        plate = black
        radius, top = rng.uniform(0.38, 0.42), rng.uniform(0.15, 0.2)
    else:  # road traffic cone
        body = _orange(rng, (4.0, 20.0))
        stripes = (_band(rng, 0.5, 0.2),)
        if rng.uniform() < 0.5:
            stripes = stripes + (_band(rng, 0.76, 0.07, 0.02),)
        plate = black if rng.uniform() < 0.6 else body * np.float32(rng.uniform(0.8, 1.0))
        radius, top = rng.uniform(0.28, 0.36), rng.uniform(0.08, 0.15)
    light = np.float32(rng.uniform(0.95, 1.15))  # sunlit
    if rng.uniform() < 0.3 * s:  # in shade: lit by the sky only, darker and bluish
        light = np.float32(rng.uniform(0.45, 0.75)) * np.float32([1.12, 1.0, 0.9])
    tint = np.float32(rng.uniform(0.8, 1.05))  # dirt, fading
    if rng.uniform() < 0.25:  # dirty / faded white bands
        white = white + (body - white) * np.float32(rng.uniform(0.1, 0.4))
    return OrangeStyle(body * light * tint, white * light * tint, plate * light * tint,
                       tuple(stripes), float(radius), float(top), kind)


def lying_spots(rng: np.random.Generator, xz: np.ndarray, classes: np.ndarray,
                strength: float) -> list[tuple[float, float, int, float]]:
    """Knocked-over orange cones (drawn, not labelled) beside orange cones: (x, z, class, yaw)."""
    orange = np.flatnonzero(classes >= ORANGE)
    orange = orange[classes[orange] <= LARGE_ORANGE]
    out: list[tuple[float, float, int, float]] = []
    if not len(orange):
        return out
    tree = cKDTree(xz)
    for _ in range(int(rng.poisson(0.5 * strength))):
        k = int(rng.choice(orange))
        ang = rng.uniform(0, 2 * np.pi)
        p = xz[k] + rng.uniform(0.7, 1.6) * np.array([np.cos(ang), np.sin(ang)])
        if p[1] > 2.0 and tree.query(p)[0] > 0.6:
            out.append((float(p[0]), float(p[1]), int(rng.choice([ORANGE, LARGE_ORANGE])),
                        float(rng.uniform(0, 2 * np.pi))))
    return out
