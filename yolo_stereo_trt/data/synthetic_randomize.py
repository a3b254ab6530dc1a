"""The randomized synthetic world: the same track generator as data/synthetic.py, pushed toward
what real Formula Student footage looks like (issue 14). Off by default: ``render_pair(seed)``
without ``randomize`` is today's world, bit for bit.

Switches (all on with ``Randomize()``; each seeded by the pair's seed):
- ground: asphalt / concrete track, grass / dry grass / gravel / asphalt / concrete beside it,
  fine 5 mm detail that is sharp near the camera and fades with the pixel footprint, concrete
  slab joints, rain-dark asphalt with sky reflections and puddles.
- clutter: coloured non-cone objects (blue / yellow / orange crates, barrels, flags, bags,
  buckets), tyre stacks, parked cars, tents, signs, barrier blocks, fences and barrier lines,
  grandstands with crowds.
- people: single people beside the track, crowds behind fences, marshals standing in front of
  cones (partial occlusion).
- bodywork: the car's own nose, sticker, front wheels and wishbones at the bottom of the frame.
- cones: colour and fading, dirt, scuffs, faded or missing stripes, the striped orange
  traffic-cone style (still labelled orange), specular reflections, knocked-over cones (drawn
  and NOT labelled: they are hard negatives and occluders).
- camera: height 0.5-1.5 m, pitch -2..7 deg, roll +-4 deg, horizontal FOV 65-110 deg.
- optics: exposure (under / over), gamma, white balance, vignetting, lens flare, focal blur,
  motion blur, rolling exposure banding, sensor noise, JPEG artefacts.
- overlays: burned-in timestamps / speed read-outs on some frames.
- orange (issue 22): orange cones where events put them (timekeeping gates of large orange
  cones anywhere along the track, orange-bordered lanes, traffic-cone borders, loose and
  knocked-over orange cones) and their real spread of looks (FSG one-band / two-band cones,
  older two-stripe cones, slim road traffic cones; red-orange to yellow-orange, sun and shade,
  grey retroreflective bands, base skirts); data/synthetic_orange.py.
- skirts: the base in the cone's own colour (FSG cones) instead of the black plate, per cone.

``strength`` in [0, 1] scales the probabilities and ranges. ``Randomize()`` turns every switch
on; the issue-14 world (before orange and skirts existed) is ``Randomize(orange=False,
skirts=False)`` / ``--randomize all,-orange,-skirts``, pixel for pixel: a switch that is off
draws nothing from any random stream.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

import cv2
import numpy as np
from scipy.spatial import cKDTree

from ..core.stereo import StereoCamera
from .synthetic_world import (BASE_PLATE, CAMERA_HEIGHT, CONE_SIZES, CONE_STYLES, STRIPES,
                              TOP_RATIO, StereoScene, _make_world, _SS, _unknown_colours,
                              default_camera, track_cones)
from .synthetic_orange import STREAM as ORANGE_STREAM
from .synthetic_orange import lying_spots, orange_layout, orange_style
from .synthetic_effects import (Effects, apply_effects, apply_overlay, draw_effects,
                                draw_overlay, jpeg_round_trip)
from .synthetic_scenery import (OCCLUDER, Ground, Item, View, bodywork, coloured_object, fence,
                                fill_parts, free_spots, grandstand, make_ground, person,
                                render_background, rotation, track_side_item)

SWITCHES = ("ground", "clutter", "people", "bodywork", "cones", "camera", "optics", "overlays",
            "orange", "skirts")
SKIRT_STREAM = 0x534B5254  # "SKRT": the skirts switch's own random stream


@dataclass(frozen=True)
class Randomize:
    strength: float = 1.0
    ground: bool = True
    clutter: bool = True
    people: bool = True
    bodywork: bool = True
    cones: bool = True
    camera: bool = True
    optics: bool = True
    overlays: bool = True
    orange: bool = True
    skirts: bool = True

    @classmethod
    def parse(cls, text: str, strength: float = 1.0) -> "Randomize":
        """'all', 'none', a comma list of switches ('ground,clutter'), or 'all,-overlays'."""
        words = [w.strip() for w in text.split(",") if w.strip()]
        on = {name: False for name in SWITCHES}
        for w in words:
            name = w.lstrip("-+")
            if name == "all":
                on = {k: not w.startswith("-") for k in SWITCHES}
            elif name == "none":
                on = {k: False for k in SWITCHES}
            elif name in SWITCHES:
                on[name] = not w.startswith("-")
            else:
                raise ValueError(f"unknown randomization switch {name!r} "
                                 f"(all, none, {', '.join(SWITCHES)})")
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"randomization strength must be in [0, 1], got {strength}")
        return cls(strength, **on)

    @classmethod
    def only(cls, name: str, strength: float = 1.0) -> "Randomize":
        return cls.parse(name, strength)

    def active(self) -> list[str]:
        return [f.name for f in fields(self) if f.name in SWITCHES and getattr(self, f.name)]


def add_arguments(ap, what: str) -> None:
    """--randomize [SWITCHES] and --randomize-strength S on the argparse parser ``ap`` (the
    console scripts that render: make_synthetic, stereo_accuracy); ``what`` ends the help."""
    from ..core.cli import fraction
    ap.add_argument("--randomize", nargs="?", const="all", default=None, metavar="SWITCHES",
                    help="the randomized world: 'all' (the default when the flag has no value), "
                    "or a comma list of " + ", ".join(SWITCHES) + " ('all,-overlays' drops "
                    "one); " + what)
    ap.add_argument("--randomize-strength", type=fraction, default=None, metavar="S",
                    help="randomization strength in [0, 1] (default 1; needs --randomize)")


def from_arguments(ap, args) -> Randomize | None:
    """The Randomize that add_arguments' flags ask for; None for the plain world (no flag, or
    no switch on); a wrong switch, or a strength without --randomize (it would be ignored),
    ends in ``ap.error`` (one line, exit 2)."""
    if args.randomize is None:
        if args.randomize_strength is not None:
            ap.error("--randomize-strength needs --randomize (the plain world has no "
                     "randomization to scale)")
        return None
    strength = 1.0 if args.randomize_strength is None else args.randomize_strength
    try:
        randomize = Randomize.parse(args.randomize, strength)
    except ValueError as e:
        ap.error(f"--randomize: {e}")
    return randomize if randomize.active() else None


# --- cones -------------------------------------------------------------------------------

@dataclass
class ConeLook:
    class_id: int
    colours: dict
    stripes: tuple
    dirt: float = 0.0
    scuffs: np.ndarray | None = None  # (4,6) grid of brightness changes over the cone
    spec: float = 0.0  # specular streak strength
    spec_pos: float = 0.0  # its position across the cone (-1..1)
    lying: float | None = None  # yaw of a knocked-over cone's axis (None: standing)
    radius: float = 0.42  # body's bottom radius / base width (orange switch: slimmer bodies)
    top: float = TOP_RATIO  # top radius / bottom radius


def cone_look(rng: np.random.Generator, class_id: int, vary: bool) -> ConeLook:
    body, stripe = np.float32(CONE_STYLES[class_id][0]), np.float32(CONE_STYLES[class_id][1])
    if class_id == 4:
        body, stripe = _unknown_colours(rng)
    stripes = STRIPES[class_id]
    look = ConeLook(class_id, {}, stripes)
    if vary:
        body = body * rng.uniform(0.88, 1.1, 3).astype(np.float32)
        if class_id in (2, 3) and rng.uniform() < 0.4:  # traffic-cone style: red-orange, white
            body = np.float32([rng.uniform(0, 30), rng.uniform(50, 110), rng.uniform(225, 255)])
            stripe = np.float32([250, 250, 250])
            stripes = (((0.55, 0.72),), ((0.3, 0.42), (0.6, 0.74)), ((0.62, 0.8),))[
                int(rng.integers(3))]
            look.spec = rng.uniform(0.2, 0.6)
        r = rng.uniform()
        if r < 0.08:
            stripes = ()  # missing (peeled) stripes
        elif r < 0.35:
            stripe = stripe + (body - stripe) * rng.uniform(0.2, 0.6)  # faded
        tint = rng.uniform(0.6, 1.12)
        look.dirt = rng.uniform(0, 0.5) if rng.uniform() < 0.5 else 0.0
        if rng.uniform() < 0.5:
            look.scuffs = rng.normal(0, 1, (6, 4)).astype(np.float32) * rng.uniform(0.1, 0.3)
        if rng.uniform() < 0.3:
            look.spec = max(look.spec, rng.uniform(0.1, 0.4))
        look.spec_pos = rng.uniform(-0.6, 0.6)
    else:
        tint = rng.uniform(0.85, 1.1)
    look.colours = {"plate": np.float32([25, 25, 28]), "body": body * tint,
                    "stripe": stripe * tint}
    look.stripes = stripes
    return look


def apply_orange_style(look: ConeLook, rng: np.random.Generator, strength: float) -> ConeLook:
    """An orange cone's look from the orange switch (data/synthetic_orange.py); the cones
    switch's wear (dirt toward the base, scuffs, specular streaks) stays."""
    style = orange_style(rng, look.class_id, strength)
    look.colours = {"plate": style.plate, "body": style.body, "stripe": style.stripe}
    look.stripes = style.stripes
    look.radius, look.top = style.radius, style.top
    return look


def apply_skirts(looks: list[ConeLook], rng: np.random.Generator, strength: float) -> None:
    """FSG cones stand on a wide base skirt in their own colour: per cone (60 %, scaled by
    strength) the base plate takes the body's colour, a little darker."""
    for look in looks:
        if rng.uniform() < 0.6 * strength:
            look.colours["plate"] = look.colours["body"] * np.float32(rng.uniform(0.8, 1.0))


def _frame(axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    helper = np.array([1.0, 0, 0]) if abs(axis[0]) < 0.9 else np.array([0, 0, 1.0])
    e1 = np.cross(axis, helper)
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(axis, e1)


def _ring(centre: np.ndarray, axis: np.ndarray, radius: float, n: int = 24) -> np.ndarray:
    e1, e2 = _frame(axis)
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return centre + radius * (np.cos(a)[:, None] * e1 + np.sin(a)[:, None] * e2)


def cone_layers(x: float, z: float, look: ConeLook, view: View) -> list[tuple[np.ndarray, str]]:
    """Convex 2D polygons (px) of a cone through the posed view: base plate, body, stripes."""
    width, height = CONE_SIZES[look.class_id]
    r0 = width * look.radius
    r1 = r0 * look.top
    g = view.height
    if look.lying is None:
        base, axis = np.array([x, g, z]), np.array([0.0, -1.0, 0.0])
    else:
        axis = np.array([np.sin(look.lying), 0.0, np.cos(look.lying)])
        base = np.array([x, g - r0 * 0.75, z]) - axis * height / 2

    def hull(pts: np.ndarray) -> np.ndarray:
        return cv2.convexHull(view.uv(view.to_camera(pts)).astype(np.float32))[:, 0]

    def band(lo: float, hi: float) -> np.ndarray:
        h_lo = BASE_PLATE + (height - BASE_PLATE) * lo
        h_hi = BASE_PLATE + (height - BASE_PLATE) * hi
        return hull(np.vstack([_ring(base + axis * h_lo, axis, r0 + (r1 - r0) * lo),
                               _ring(base + axis * h_hi, axis, r0 + (r1 - r0) * hi)]))

    layers = []
    if look.lying is None:
        half = width / 2
        sq = np.array([[x - half, 0, z - half], [x + half, 0, z - half], [x + half, 0, z + half],
                       [x - half, 0, z + half]])
        lo, hi = sq.copy(), sq.copy()
        lo[:, 1], hi[:, 1] = g, g - BASE_PLATE
        layers.append((hull(np.vstack([lo, hi])), "plate"))
    layers.append((band(0.0, 1.0), "body"))
    layers += [(band(lo, hi), "stripe") for lo, hi in look.stripes]
    return layers


def draw_cone(img: np.ndarray, ids: np.ndarray, index: int, x: float, z: float, look: ConeLook,
              view: View, sun_azimuth: float) -> tuple[np.ndarray, int]:
    """Composite one cone (4x supersampled, shaded, dirty) into img; mark its pixels in ids.
    Returns its full box (xyxy, unclipped) and its pixel count if nothing occluded it."""
    cam = view.camera
    mid = view.to_camera(np.array([[x, view.height - CONE_SIZES[look.class_id][1] / 2, z]]))[0]
    if mid[2] < 0.3:
        return np.zeros(4, np.float32), 0
    layers = cone_layers(x, z, look, view)
    allpts = np.vstack([p for p, _ in layers])
    box = np.array([*allpts.min(0), *allpts.max(0)], np.float32)
    x0, y0 = np.floor(allpts.min(0)).astype(int) - 1
    x1, y1 = np.ceil(allpts.max(0)).astype(int) + 1
    cx0, cy0 = max(x0, 0), max(y0, 0)
    cx1, cy1 = min(x1, cam.width), min(y1, cam.height)
    if cx1 <= cx0 or cy1 <= cy0:
        return box, 0
    pw, ph = (cx1 - cx0) * _SS, (cy1 - cy0) * _SS
    colour = np.zeros((ph, pw, 3), np.float32)
    alpha = np.zeros((ph, pw), np.float32)
    for pts, kind in layers:
        mask = np.zeros((ph, pw), np.uint8)
        local = (pts - [cx0, cy0]) * _SS
        cv2.fillPoly(mask, [np.round(local * 16).astype(np.int32)], 1, cv2.LINE_8, 4)
        m = mask.astype(bool)
        colour[m] = look.colours[kind]
        alpha[m] = 1.0
    # shading by the horizontal angle of the surface normal (from the offset to the axis)
    us = (np.arange(pw, dtype=np.float32) + 0.5) / _SS + cx0 - 0.5
    vs = (np.arange(ph, dtype=np.float32) + 0.5) / _SS + cy0 - 0.5
    axis_u = view.uv(mid[None])[0, 0]
    frac = np.clip((vs - box[1]) / max(box[3] - box[1], 1e-3), 0, 1)  # 0 top .. 1 bottom
    width, height = CONE_SIZES[look.class_id]
    r0 = width * look.radius
    radius_px = (r0 * look.top + (r0 - r0 * look.top) * frac) * cam.fx / mid[2]
    if look.lying is not None:
        radius_px = np.full_like(frac, max(box[2] - box[0], 1.0) / 2)
    s = np.clip((us[None, :] - axis_u) / radius_px[:, None], -1, 1)
    normal_azimuth = np.arcsin(s) + np.arctan2(mid[0] - view.eye, mid[2]) + np.pi
    shade = 0.55 + 0.6 * np.maximum(0, np.cos(normal_azimuth - sun_azimuth))
    if look.dirt > 0:
        shade = shade * (1 - look.dirt * frac[:, None] ** 2)
    if look.scuffs is not None:
        shade = shade * (1 + cv2.resize(look.scuffs, (pw, ph), interpolation=cv2.INTER_CUBIC))
    colour *= shade[..., None]
    if look.spec > 0:
        colour += (alpha * look.spec * 140 * np.exp(-((s - look.spec_pos) / 0.15) ** 2))[..., None]
    a = cv2.resize(alpha, (cx1 - cx0, cy1 - cy0), interpolation=cv2.INTER_AREA)
    c = cv2.resize(colour, (cx1 - cx0, cy1 - cy0), interpolation=cv2.INTER_AREA)
    region = img[cy0:cy1, cx0:cx1]
    region[:] = region * (1 - a[..., None]) + c
    ids[cy0:cy1, cx0:cx1][a > 0.5] = index
    return box, int((a > 0.5).sum())


def draw_shadows(img: np.ndarray, xz: np.ndarray, classes: np.ndarray, view: View,
                 sun_azimuth: float, sun_elevation: float) -> None:
    mask = np.zeros(img.shape[:2], np.uint8)
    g = view.height
    for (x, z), class_id in zip(xz, classes):
        width, height = CONE_SIZES[int(class_id)]
        length = height / np.tan(sun_elevation)
        tip = np.array([[x - np.sin(sun_azimuth) * length, g, z - np.cos(sun_azimuth) * length]])
        pts = np.vstack([_ring(np.array([x, g, z]), np.array([0, -1.0, 0]), width * 0.42, 12),
                         tip])
        pc = view.to_camera(pts)
        if pc[:, 2].min() < 0.5:
            continue
        hull = cv2.convexHull(view.uv(pc).astype(np.float32))[:, 0]
        cv2.fillPoly(mask, [np.round(hull * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
    ys, xs = np.nonzero(mask)
    if len(ys):
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        img[y0:y1, x0:x1] *= 1 - 0.45 * (mask[y0:y1, x0:x1, None].astype(np.float32) / 255)


# --- the scene ---------------------------------------------------------------------------

def _scenery(rr: np.random.Generator, opts: Randomize, xz: np.ndarray, line_tree: cKDTree,
             half_width: float, ground: float, max_range: float
             ) -> tuple[list[Item], list[tuple[float, float, ConeLook]]]:
    """Clutter items, people and knocked-over cones of one scene (world coordinates)."""
    s = opts.strength
    cone_tree = cKDTree(xz) if len(xz) else None
    items: list[Item] = []
    lying: list[tuple[float, float, ConeLook]] = []
    if opts.clutter:
        for x, z in free_spots(rr, int(rr.poisson(5 * s)), line_tree, cone_tree, half_width,
                               (0.4, 5.0), (2.5, 30.0), 0.7):
            items.append(coloured_object(rr, x, z, ground))
        kinds = ["tyres", "sign", "barrier", "tyres", "car", "tent"]
        for x, z in free_spots(rr, int(rr.poisson(4 * s)), line_tree, cone_tree, half_width,
                               (1.5, 12.0), (4.0, 45.0), 2.5):
            kind = kinds[int(rr.integers(len(kinds)))]
            if kind in ("car", "tent") and z < 10:
                kind = "tyres"
            items.append(track_side_item(rr, kind, x, z, ground))
        for _ in range(int(rr.poisson(1.0 * s))):  # fence / barrier lines beside the track
            p = free_spots(rr, 1, line_tree, cone_tree, half_width, (2.0, 8.0), (4.0, 35.0), 2.0)
            if not len(p):
                continue
            direction = rr.uniform(0, np.pi)
            length = rr.uniform(5, 20)
            d = np.array([np.sin(direction), np.cos(direction)]) * length / 2
            p0, p1 = p[0] - d, p[0] + d
            samples = p0 + (p1 - p0) * np.linspace(0, 1, 12)[:, None]
            if (line_tree.query(samples)[0] > half_width + 1.5).all() and (samples[:, 1] > 1).all():
                items += fence(p0, p1, ground, rr)
        if rr.uniform() < 0.3 * s:
            p = free_spots(rr, 1, line_tree, None, half_width, (3.0, 30.0),
                           (max_range + 2, max_range + 15), 0.0)
            if len(p):
                items += grandstand(rr, float(p[0, 0]), float(p[0, 1]), ground)
    if opts.people:
        for x, z in free_spots(rr, int(rr.poisson(2.5 * s)), line_tree, cone_tree, half_width,
                               (0.5, 10.0), (3.0, 35.0), 0.5):
            items.append(person(rr, x, z, ground))
        if rr.uniform() < 0.35 * s:  # a crowd in a row
            p = free_spots(rr, 1, line_tree, cone_tree, half_width, (3.0, 15.0), (12.0, 40.0),
                           2.0)
            if len(p):
                n = int(rr.integers(6, 30))
                offs = np.column_stack([rr.uniform(-6, 6, n), rr.uniform(-1, 1, n)])
                for x, z in p[0] + offs:
                    if z > 2:
                        items.append(person(rr, float(x), float(z), ground))
        if len(xz) and rr.uniform() < 0.5 * s:  # marshals in front of cones
            for k in rr.choice(len(xz), min(len(xz), int(rr.integers(1, 3))), replace=False):
                x, z = xz[k]
                if not 3.0 < z < 18.0:
                    continue
                back = rr.uniform(0.5, 1.5)
                px, pz = x - x / np.hypot(x, z) * back + rr.normal(0, 0.25), \
                    z - z / np.hypot(x, z) * back
                if cone_tree.query([px, pz])[0] > 0.4:
                    items.append(person(rr, float(px), float(pz), ground))
    if opts.cones and len(xz):
        for _ in range(int(rr.poisson(0.7 * s))):  # knocked-over cones (not labelled)
            k = int(rr.integers(len(xz)))
            ang = rr.uniform(0, 2 * np.pi)
            p = xz[k] + rr.uniform(0.6, 1.5) * np.array([np.cos(ang), np.sin(ang)])
            if p[1] > 2.0 and cone_tree.query(p)[0] > 0.55:
                look = cone_look(rr, int(rr.choice([0, 1, 2])), True)
                look.lying = float(rr.uniform(0, 2 * np.pi))
                lying.append((float(p[0]), float(p[1]), look))
    return items, lying


def render_randomized(seed: int, camera: StereoCamera | None, noise: float | None,
                      max_range: float, row_offset: float | None, opts: Randomize,
                      extra: tuple[Item, ...] = ()) -> StereoScene:
    """The randomized pair of ``seed`` (render_pair(..., randomize=opts) calls this). ``extra``
    adds scenery items (world frame: ground at y = the camera height) to the drawn scene."""
    rng = np.random.default_rng(seed)  # the track, as in the default world
    base = camera or default_camera()
    xz, classes, line = track_cones(rng, max_range)
    half_width = float(np.median(np.abs(xz[classes < 2, 0] - np.interp(
        xz[classes < 2, 1], line[:, 1], line[:, 0])))) if (classes < 2).any() else 1.75
    world = _make_world(rng, line, half_width)
    if row_offset is None:
        row_offset = float(rng.uniform(-0.3, 0.3))
    rr = np.random.default_rng([seed, 0x52414E44])  # everything randomized: its own stream
    s = opts.strength
    ro = np.random.default_rng([seed, ORANGE_STREAM]) if opts.orange else None
    if ro is not None:  # more orange cones (half_width and the world are the track's own)
        xz, classes = orange_layout(ro, xz, classes, line, half_width, max_range, s)
    height, pitch, roll, cam = CAMERA_HEIGHT, 0.0, 0.0, base
    if opts.camera:
        height = CAMERA_HEIGHT + s * rr.uniform(-0.4, 0.6)
        pitch = np.radians(s * rr.uniform(-2.0, 7.0))
        roll = np.radians(s * float(np.clip(rr.normal(0, 1.5), -4, 4)))
        if rr.uniform() < 0.6:
            hfov = np.radians(90.0 + s * rr.uniform(-25.0, 20.0))
            fx = float(base.width / 2 / np.tan(hfov / 2))
            cam = replace(base, fx=fx, fy=fx)
    rot = rotation(pitch, roll)
    ground = make_ground(rr, s, world) if opts.ground else Ground(
        world.asphalt, world.grass, np.zeros((512, 512), np.float32), 0.0, 0.0, 0.0, 0.0,
        np.zeros((256, 256), np.float32))
    tree_top = float(rr.uniform(4.0, 9.0))
    looks = [cone_look(rr, int(c), opts.cones) for c in classes]
    if ro is not None:
        looks = [apply_orange_style(lk, ro, s) if lk.class_id in (2, 3) else lk for lk in looks]
    if opts.skirts:
        apply_skirts(looks, np.random.default_rng([seed, SKIRT_STREAM]), s)
    items, lying = _scenery(rr, opts, xz, world.line_tree, half_width, height, max_range)
    if ro is not None:  # knocked-over orange cones (not labelled)
        for x, z, c, yaw in lying_spots(ro, xz, classes, s):
            look = apply_orange_style(cone_look(ro, c, True), ro, s)
            look.lying = yaw
            lying.append((x, z, look))
    items = items + list(extra)
    body = bodywork(rr, height) if opts.bodywork and rr.uniform() < 0.35 * s else []
    effects = draw_effects(rr, s) if opts.optics else Effects(
        float(rr.uniform(0.65, 1.3)), 1.0, tuple(float(v) for v in rr.uniform(0.92, 1.08, 3)),
        focus_sigma=float(rr.uniform(0.0, 1.0)), noise_sigma=float(rr.uniform(1.0, 5.0)))
    if not opts.optics and effects.focus_sigma <= 0.3:
        effects.focus_sigma = 0.0
    if noise is not None:
        effects.noise_sigma = noise
    overlay = draw_overlay(rr, cam.width, cam.height) if (
        opts.overlays and rr.uniform() < 0.3 * s + 0.05) else None
    noise_seeds = rr.integers(1 << 31, size=2)

    # draw order: everything far to near by its depth along the optical axis
    order: list[tuple[float, str, object]] = []
    cam_z = (np.column_stack([xz[:, 0], np.full(len(xz), height - 0.2), xz[:, 1]]) @ rot.T)[:, 2]
    order += [(float(cam_z[i]), "cone", i) for i in range(len(xz))]
    order += [(float((rot @ it.centre)[2]), "item", it) for it in items]
    order += [(float((rot @ np.array([x, height - 0.15, z]))[2]), "lying", (x, z, lk))
              for x, z, lk in lying]
    order.sort(key=lambda t: -t[0])

    n = len(classes)
    boxes = np.zeros((2, n, 4), np.float32)
    visible = np.zeros((2, n, 4), np.float32)
    visibility = np.zeros((n, 2), np.float32)
    images = []
    for v, (eye, cy) in enumerate(((0.0, cam.cy), (cam.baseline, cam.cy + row_offset))):
        view = View(cam, rot, eye, cy, height)
        img = render_background(world, ground, view, world.line_tree, half_width, tree_top)
        draw_shadows(img, xz, classes, view, world.sun_azimuth, world.sun_elevation)
        ids = np.full((cam.height, cam.width), -1, np.int32)
        full_pixels = np.zeros(n)
        for _, kind, what in order:
            if kind == "cone":
                i = int(what)
                boxes[v, i], full_pixels[i] = draw_cone(img, ids, i, xz[i, 0], xz[i, 1],
                                                        looks[i], view, world.sun_azimuth)
            elif kind == "item":
                fill_parts(img, ids, what.parts, view)
            else:
                x, z, lk = what
                draw_cone(img, ids, OCCLUDER, x, z, lk, view, world.sun_azimuth)
        if body:
            fill_parts(img, ids, body, view)
        if overlay is not None:
            ids[overlay.alpha >= 0.5] = OCCLUDER
        for i in range(n):  # the visible part of each cone after occlusion (as synthetic.py)
            b = boxes[v, i]
            x0, y0 = max(int(np.floor(b[0])), 0), max(int(np.floor(b[1])), 0)
            x1 = min(int(np.ceil(b[2])) + 1, cam.width)
            y1 = min(int(np.ceil(b[3])) + 1, cam.height)
            ys, xs = np.nonzero(ids[y0:y1, x0:x1] == i) if x1 > x0 and y1 > y0 else ((), ())
            if len(xs):
                visible[v, i] = [x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1,
                                 y0 + ys.max() + 1]
                visibility[i, v] = len(xs) / max(full_pixels[i], 1)
            w = (b[2] - b[0]) * (b[3] - b[1])
            inside = (min(b[2], cam.width) - max(b[0], 0)) * (min(b[3], cam.height) -
                                                              max(b[1], 0))
            if w > 0 and visibility[i, v] > 0:
                visibility[i, v] *= max(inside, 0) / w
        out = apply_effects(img, effects, np.random.default_rng(int(noise_seeds[v])))
        if overlay is not None:
            out = apply_overlay(out, overlay)
        out = np.clip(out, 0, 255).astype(np.uint8)
        if effects.jpeg_quality:
            out = jpeg_round_trip(out, effects.jpeg_quality)
        images.append(out)
    boxes[..., [0, 2]] = boxes[..., [0, 2]].clip(0, cam.width)
    boxes[..., [1, 3]] = boxes[..., [1, 3]].clip(0, cam.height)
    heights = np.array([CONE_SIZES[int(c)][1] for c in classes])
    world_xyz = np.stack([xz[:, 0], height - heights / 2, xz[:, 1]], 1)
    xyz = (world_xyz @ rot.T).astype(np.float32)
    return StereoScene(images[0], images[1], cam, xyz, classes, boxes[0], boxes[1], visible[0],
                       visible[1], visibility, row_offset, camera_height=float(height),
                       camera_rotation=rot.astype(np.float64))
