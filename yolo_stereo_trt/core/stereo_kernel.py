"""The stereo stage's loops, compiled (core.jit), in one file (Numba's on-disk cache tracks a
kernel's own source file only: everything a kernel inlines lives here with it):

- ``match_costs``: the cost of every left/right box pair (core.stereo.match_detections);
- ``refine``: the sub-pixel disparity of each matched cone, below;
- ``locate``: for the matched cones, the box geometry, ``refine``, the disparity sigma,
  triangulation and covariance (core.stereo.locate_cones) in one call. The model is
  core.stereo's: a cone seen at left pixel (u, v) with disparity d lies at
  Z = fx B / (d - doffs), X = (u - cx) Z / fx - Tx_left / fx, Y = (v - cy) Z / fy; its
  covariance is J diag(su^2, sv^2, sd^2) J^T with J the Jacobian of (X, Y, Z) in (u, v, d).
  NumPy took ~75 calls per pair for it (a few microseconds each, more when the caches are cold
  between pairs).

``refine``, for each matched cone (its left box and box-centre disparity d):

1. Window: the central part of the left box (60 % of its width, 70 % of its height, rounded
   half to even) is the patch; the right image's search strip lies on the same rows and spans
   the patch shifted by d +- the search radius (the box width, at least 8 px, but at most
   max(32 px, a quarter of the width): a near cone's disparity is only about half its width
   and its box-centre disparity is off by a few pixels, so a wider search only finds false
   peaks; far cones keep the whole width, their box-centre disparities are off by more than
   half of it). Patches under 4x4 px, outside the image, or strips without room to search are
   skipped.
2. Grey: OpenCV's fixed-point BGR->GRAY of every pixel of the patch and the strip; from
   2 x ``rows`` rows on, averaged in bands of k = height // rows rows (the last height % k
   rows left out, the mean rounded half to even as cv2.resize(INTER_AREA) does): the disparity
   lives in the columns, the averaging keeps the noise down, and a near cone's cost no longer
   grows with its height.
3. Texture: a patch whose grey-level standard deviation is below ``min_texture`` is skipped.
4. Correlation: the normalized cross-correlation of the patch at every position along the
   strip (OpenCV's TM_CCOEFF_NORMED, its rule for flat windows included).
5. Peak: the best position; when it is inside the strip (not on its border) and correlates at
   least ``min_correlation``, a parabola through it and its neighbours gives the sub-pixel
   offset, and the cone's disparity becomes patch column - (strip column + position + offset).

This replaces OpenCV calls per cone (cvtColor, resize, meanStdDev, matchTemplate: 15-30 us of
call overhead each on tiny arrays, 0.5-1.5 ms for 20 cones) by one call that releases the GIL
(~0.1 ms for 20 cones; core.jit: compiled once per machine, plain Python without Numba).
test/test_stereo.py holds it to the OpenCV definition.
"""
from __future__ import annotations

import math
import numpy as np

from .jit import Kernel, inline
# channel codes of the frames handed to the kernel (always HxWxC)
BGR, RGB, GREY = 0, 1, 2
CODES = {"bgr": BGR, "rgb": RGB}

MIN_SEARCH_RADIUS = 8.0
FULL_WIDTH_SEARCH_UP_TO = 32.0
SEARCH_RADIUS = 0.25  # x box width, beyond FULL_WIDTH_SEARCH_UP_TO
MAX_PATCH_ROWS = 16


@inline
def _grey(img, code, y, x):
    """OpenCV's COLOR_BGR2GRAY / RGB2GRAY for uint8: (B 1868 + G 9617 + R 4899 + 2^13) >> 14."""
    if code == GREY:
        return np.int64(img[y, x, 0])
    if code == BGR:
        b, g, r = np.int64(img[y, x, 0]), np.int64(img[y, x, 1]), np.int64(img[y, x, 2])
    else:
        r, g, b = np.int64(img[y, x, 0]), np.int64(img[y, x, 1]), np.int64(img[y, x, 2])
    return (b * 1868 + g * 9617 + r * 4899 + 8192) >> 14


@inline
def _band_grey(img, code, y0, y1, x0, x1, rows, out):
    """out[:bands, :x1 - x0] = the region's grey, averaged in bands (step 2: the band mean
    rounded half to even, as cv2.resize INTER_AREA rounds); returns bands. Row by row, so the
    inner loop runs along a row's pixels (integer sums, exact in float64)."""
    k = (y1 - y0) // rows
    if k < 2:
        k = 1
    bands = (y1 - y0) // k
    width = x1 - x0
    for b in range(bands):
        for j in range(width):
            out[b, j] = 0.0
        for t in range(k):
            y = y0 + b * k + t
            for j in range(width):
                out[b, j] += _grey(img, code, y, x0 + j)
        if k > 1:
            for j in range(width):
                out[b, j] = np.rint(out[b, j] / k)  # half to even, as OpenCV
    return bands


def refine(left, right, left_code, right_code, boxes, disparity, rows, min_texture,
           min_correlation, out, refined, peaks):
    """Refine ``out[i]`` (comes holding the box disparity) for each cone i of ``boxes`` (n, 4)
    xyxy left boxes; set ``refined[i]`` where it was, ``peaks[i]`` to the peak correlation
    where a search ran (steps 1-5 of the module docstring). ``left``/``right``: HxWxC uint8
    frames of channel codes BGR, RGB or GREY (C = 1)."""
    h_img, w_img = left.shape[0], left.shape[1]
    n = boxes.shape[0]
    windows = np.zeros((n, 6), np.int64)  # y0, y1, p0, p1, s0, s1; all 0: skipped
    max_w = 1
    for i in range(n):  # 1. windows
        x1, y1b, x2, y2b, d = boxes[i, 0], boxes[i, 1], boxes[i, 2], boxes[i, 3], disparity[i]
        if not (math.isfinite(x1) and math.isfinite(y1b) and math.isfinite(x2)
                and math.isfinite(y2b) and math.isfinite(d)):
            continue
        cx, cy, bw, bh = (x1 + x2) / 2, (y1b + y2b) / 2, x2 - x1, y2b - y1b
        p0, p1 = np.rint(cx - 0.3 * bw), np.rint(cx + 0.3 * bw)
        y0, y1 = np.rint(cy - 0.35 * bh), np.rint(cy + 0.35 * bh)
        radius = max(max(min(bw, FULL_WIDTH_SEARCH_UP_TO), SEARCH_RADIUS * bw),
                     MIN_SEARCH_RADIUS)
        lo, hi = p0 - d - radius, p1 - d + radius
        if not (math.isfinite(lo) and math.isfinite(hi) and math.isfinite(y1 - y0)):
            continue  # finite inputs whose sums overflow: no window
        s0 = max(math.floor(lo), 0.0)
        s1 = min(math.ceil(hi), float(w_img))
        if (p1 - p0 >= 4 and y1 - y0 >= 4 and p0 >= 0 and y0 >= 0 and p1 <= w_img
                and y1 <= h_img and s1 - s0 >= p1 - p0 + 2):
            windows[i, 0], windows[i, 1], windows[i, 2] = int(y0), int(y1), int(p0)
            windows[i, 3], windows[i, 4], windows[i, 5] = int(p1), int(s0), int(s1)
            max_w = max(max_w, int(s1 - s0))
    patch = np.empty((2 * rows, max_w))
    strip = np.empty((2 * rows, max_w))
    col_sum, col_sq, num = np.empty(max_w), np.empty(max_w), np.empty(max_w)
    for i in range(n):
        y0, y1, p0, p1, s0, s1 = (windows[i, 0], windows[i, 1], windows[i, 2], windows[i, 3],
                                  windows[i, 4], windows[i, 5])
        pw, sw = p1 - p0, s1 - s0
        if pw == 0:
            continue
        # 2-3. grey patch, texture
        bands = _band_grey(left, left_code, y0, y1, p0, p1, rows, patch)
        count = bands * pw
        mean = 0.0
        for r in range(bands):
            for j in range(pw):
                mean += patch[r, j]
        mean /= count
        energy = 0.0  # sum of squared deviations from the mean
        for r in range(bands):
            for j in range(pw):
                patch[r, j] -= mean
                energy += patch[r, j] * patch[r, j]
        if math.sqrt(energy / count) < min_texture:
            continue
        # 4. correlation along the strip
        _band_grey(right, right_code, y0, y1, s0, s1, rows, strip)
        length = sw - pw + 1
        for k in range(length):
            num[k] = 0.0
        for r in range(bands):  # axpy passes over the strip (vectorized by the compiler)
            for j in range(pw):
                t = patch[r, j]
                for k in range(length):
                    num[k] += t * strip[r, k + j]
        for j in range(sw):
            s, q = 0.0, 0.0
            for r in range(bands):
                s += strip[r, j]
                q += strip[r, j] * strip[r, j]
            col_sum[j], col_sq[j] = s, q
        win_sum, win_sq = 0.0, 0.0  # sums of integers: exact in float64, no drift
        for j in range(pw):
            win_sum += col_sum[j]
            win_sq += col_sq[j]
        best_k, a, peak, c, prev = -1, 0.0, -math.inf, 0.0, 0.0
        for k in range(length):
            if k > 0:
                win_sum += col_sum[k + pw - 1] - col_sum[k - 1]
                win_sq += col_sq[k + pw - 1] - col_sq[k - 1]
            den = math.sqrt(max(win_sq - win_sum * win_sum / count, 0.0) * energy)
            if abs(num[k]) < den:  # OpenCV's rule, flat windows included
                score = num[k] / den
            elif abs(num[k]) < den * 1.125:
                score = 1.0 if num[k] > 0 else -1.0
            else:
                score = 0.0
            # 5. the first maximum and its neighbours
            if score > peak:
                best_k, a, peak = k, prev, score
            elif k == best_k + 1:
                c = score
            prev = score
        peaks[i] = peak
        if 0 < best_k < length - 1 and peak >= min_correlation:
            denom = a - 2 * peak + c
            offset = 0.5 * (a - c) / denom if denom < 0 else 0.0
            out[i] = p0 - (s0 + best_k + offset)
            refined[i] = True


def _refine_signature(t):
    image = t.Array(t.uint8, 3, "A", readonly=True)
    return t.void(image, image, t.int64, t.int64, t.Array(t.float64, 2, "A", readonly=True),
                  t.Array(t.float64, 1, "A", readonly=True), t.int64, t.float64, t.float64,
                  t.float64[::1], t.boolean[::1], t.float32[::1])


INFEASIBLE = 1e6  # the cost of a pair that cannot be one cone (any feasible cost is < 2)


def match_costs(left_boxes, right_boxes, left_classes, right_classes, d_min, d_max,
                row_tolerance_px, max_log_height_ratio, cost):
    """cost[i, j] for left box i and right box j (xyxy): row misalignment (centre rows apart,
    over row_tolerance_px + a tenth of the smaller box height) plus size difference
    (|log| of the height ratio) where the pair can be one cone: same class, rows within the
    tolerance, box-centre disparity in [d_min, d_max], heights within the ratio; else
    INFEASIBLE. NaN boxes are never feasible."""
    for i in range(left_boxes.shape[0]):
        lx1, ly1 = np.float64(left_boxes[i, 0]), np.float64(left_boxes[i, 1])
        lx2, ly2 = np.float64(left_boxes[i, 2]), np.float64(left_boxes[i, 3])
        l_cy, l_h, l_u2 = (ly1 + ly2) / 2, max(ly2 - ly1, 1e-3), lx1 + lx2
        for j in range(right_boxes.shape[0]):
            rx1, ry1 = np.float64(right_boxes[j, 0]), np.float64(right_boxes[j, 1])
            rx2, ry2 = np.float64(right_boxes[j, 2]), np.float64(right_boxes[j, 3])
            r_h = max(ry2 - ry1, 1e-3)
            row_error = abs(l_cy - (ry1 + ry2) / 2) / (row_tolerance_px + 0.1 * min(l_h, r_h))
            ratio = l_h / r_h  # 0 or inf with an infinite box: never feasible
            size_error = abs(math.log(ratio)) if 0.0 < ratio < math.inf else math.inf
            disparity = l_u2 / 2 - (rx1 + rx2) / 2
            if (left_classes[i] == right_classes[j] and row_error <= 1.0
                    and disparity >= d_min and disparity <= d_max
                    and size_error <= max_log_height_ratio):
                cost[i, j] = row_error + size_error
            else:
                cost[i, j] = INFEASIBLE


@inline
def _triangulate(u, v, d, camera):
    """Left pixel (u, v) with disparity d -> (X, Y, Z) in the left optical frame."""
    fx, fy, cx, cy, fx_baseline, doffs, x_offset = camera
    z = fx_baseline / (d - doffs)
    return (u - cx) * z / fx - x_offset, (v - cy) * z / fy, z


@inline
def _covariance(x, y, z, d, sigma_u, sigma_v, sigma_d, camera, out):
    """out (3, 3) = J diag(su^2, sv^2, sd^2) J^T at (x, y, z): with X' = x + Tx_left / fx and
    dd = d - doffs, the disparity column gives g g^T with g = (X', Y, Z) sd / dd, the pixel
    columns add (Z su / fx)^2 and (Z sv / fy)^2 on the diagonal."""
    fx, fy, x_offset, doffs = camera[0], camera[1], camera[6], camera[5]
    scale = sigma_d / (d - doffs)
    g0, g1, g2 = (x + x_offset) * scale, y * scale, z * scale
    out[0, 0] = g0 * g0 + (z * sigma_u / fx) ** 2
    out[1, 1] = g1 * g1 + (z * sigma_v / fy) ** 2
    out[2, 2] = g2 * g2
    out[0, 1] = out[1, 0] = g0 * g1
    out[0, 2] = out[2, 0] = g0 * g2
    out[1, 2] = out[2, 1] = g1 * g2


def locate(left, right, left_code, right_code, left_boxes, right_boxes, left_index,
           right_index, camera, disparity_range, refine_on, min_texture, min_correlation,
           sigmas, xyz, covariance, disparity, refined):
    """Cone k is left box left_index[k] with right box right_index[k]: u, v = the left box
    centre, d = the box-centre disparity, refined (when ``refine_on``) from the frames' content
    and clipped to ``disparity_range``; its sigma: ``sigmas`` = (centre px, centre x width,
    centre x height, disparity from boxes, refined, refined per pixel of disparity) as in
    core.stereo.StereoConfig. Writes xyz (k, 3) float32, covariance (k, 3, 3) float32 (from
    the float32 position), disparity (k,) float32, refined (k,). ``camera`` = (fx, fy, cx, cy,
    fx B, doffs, Tx_left / fx)."""
    n = left_index.shape[0]
    boxes = np.empty((n, 4))
    d = np.empty(n)
    for k in range(n):
        i, j = left_index[k], right_index[k]
        for c in range(4):
            boxes[k, c] = left_boxes[i, c]
        d[k] = (boxes[k, 0] + boxes[k, 2]) / 2 - (np.float64(right_boxes[j, 0])
                                                 + np.float64(right_boxes[j, 2])) / 2
    box_d = d.copy()
    peaks = np.zeros(n, np.float32)
    for k in range(n):
        refined[k] = False
    if refine_on and n:
        _refine_inline(left, right, left_code, right_code, boxes, box_d, MAX_PATCH_ROWS,
                      min_texture, min_correlation, d, refined, peaks)
    centre_px, centre_u, centre_v, sigma_box, sigma_refined, sigma_slope = sigmas
    cov = np.empty((3, 3))
    for k in range(n):
        sigma_d = sigma_box
        if refine_on:
            if refined[k]:
                sigma_d = sigma_refined + 0.3 * (1.0 - peaks[k]) + sigma_slope * abs(d[k])
            d[k] = min(max(d[k], disparity_range[0]), disparity_range[1])
        u, v = (boxes[k, 0] + boxes[k, 2]) / 2, (boxes[k, 1] + boxes[k, 3]) / 2
        x, y, z = _triangulate(u, v, d[k], camera)
        xyz[k, 0], xyz[k, 1], xyz[k, 2] = x, y, z
        sigma_u = math.hypot(centre_px, centre_u * (boxes[k, 2] - boxes[k, 0]))
        sigma_v = math.hypot(centre_px, centre_v * (boxes[k, 3] - boxes[k, 1]))
        _covariance(np.float64(xyz[k, 0]), np.float64(xyz[k, 1]), np.float64(xyz[k, 2]), d[k],
                    sigma_u, sigma_v, sigma_d, camera, cov)
        for r in range(3):
            for c in range(3):
                covariance[k, r, c] = cov[r, c]
        disparity[k] = d[k]


def _match_signature(t):
    boxes = t.Array(t.float32, 2, "A", readonly=True)
    classes = t.Array(t.int64, 1, "A", readonly=True)
    return t.void(boxes, boxes, classes, classes, t.float64, t.float64, t.float64, t.float64,
                  t.float64[:, ::1])


def _locate_signature(t):
    image = t.Array(t.uint8, 3, "A", readonly=True)
    boxes = t.Array(t.float32, 2, "A", readonly=True)
    index = t.Array(t.int64, 1, "A", readonly=True)
    return t.void(image, image, t.int64, t.int64, boxes, boxes, index, index,
                  t.UniTuple(t.float64, 7), t.UniTuple(t.float64, 2), t.boolean, t.float64,
                  t.float64, t.UniTuple(t.float64, 6), t.float32[:, ::1], t.float32[:, :, ::1],
                  t.float32[::1], t.boolean[::1])


_refine_inline = inline(refine)  # inside ``locate``
# the entry points: take every frame the node sees (contiguous or strided rows, read-only or not)
refine_compiled = Kernel(refine, _refine_signature)
match_costs_compiled = Kernel(match_costs, _match_signature)
locate_compiled = Kernel(locate, _locate_signature)
