"""The stereo stage's loops, compiled (core.jit), in one file (Numba's on-disk cache tracks a
kernel's own source file only: everything a kernel inlines lives here with it):

- ``match_costs``: the cost of every left/right box pair (core.stereo.match_detections);
- ``refine``: the disparity of cones from the image content, below;
- ``duplicates``: which searched cones are a located cone found again (core.stereo.
  search_duplicates);
- ``locate``: for every cone to locate (a left box with its right box, or a left box alone to
  search for in the right image), the box geometry, ``refine``, the sigmas, triangulation and
  covariance (core.stereo.locate_cones) in one call. The model is core.stereo's: a cone seen at
  left pixel (u, v) with disparity d lies at Z = fx B / (d - doffs),
  X = (u - cx) Z / fx - Tx_left / fx, Y = (v - cy) Z / fy; its covariance is
  J diag(su^2, sv^2, sd^2) J^T with J the Jacobian of (X, Y, Z) in (u, v, d).

``refine``, for one cone (its left box, and the disparities to search, [d_lo, d_hi]):

1. Window: the patch is the central part of the left box (60 % of its width, 70 % of its
   height, rounded half to even; the whole box below SMALL_BOX_PX: a far cone's silhouette
   edges carry its disparity); its columns are kept to those whose match can lie inside the
   right image (a cone cut by the left border: the part visible in both views). The right
   image's strip lies on the same rows and spans the patch shifted by every disparity of
   [d_lo, d_hi]. Patches under 4x4 px, outside the image, or strips without room to search are
   skipped.
2. Grey: OpenCV's fixed-point BGR->GRAY of every pixel of the patch and the strip; from
   2 x ``rows`` rows on, averaged in bands of k = height // rows rows (the last height % k
   rows left out, the mean rounded half to even as cv2.resize(INTER_AREA) does): the disparity
   lives in the columns, the averaging keeps the noise down, and a near cone's cost no longer
   grows with its height.
3. Texture: a patch whose grey-level standard deviation is below ``min_texture`` is skipped.
4. Correlation: the normalized cross-correlation of the patch at every position along the
   strip (OpenCV's TM_CCOEFF_NORMED, its rule for flat windows included); the peak, its
   neighbours, and the highest other local maximum (the margin of the peak over it says
   whether the match is unique).
5. Rows: where ``row_radius`` > 0, the rows are searched too (a right camera knocked up or
   down): the patch's row profile (grey sum per row over about PROFILE_COLUMNS of its columns)
   against the right image's at the peak's columns, shifted by -row_radius..row_radius rows; when the best shift is not 0 the strip is
   correlated again on the shifted rows.
6. Sub-pixel: a parabola through the peak and its neighbours (columns; rows likewise), then
   Lucas-Kanade (inverse compositional, Gauss-Newton, LK_ITERATIONS steps) in both directions
   on the colour channels with a gain and offset per channel, on at most LK_MAX_PIXELS pixels
   of the patch: far cones are a few pixels wide, and the parabola's pixel-locking and the
   grey image's lost colour edges were the largest errors beyond 20 m. A step that leaves the
   parabola's estimate by more than LK_MAX_SHIFT px is not taken.

This replaces OpenCV calls per cone (cvtColor, resize, meanStdDev, matchTemplate: 15-30 us of
call overhead each on tiny arrays) by one call that releases the GIL (core.jit: compiled once
per machine, plain Python without Numba). test/test_stereo.py holds it to NumPy and OpenCV
definitions.
"""
from __future__ import annotations

import math
import numpy as np

from .jit import Kernel, inline
# channel codes of the frames handed to the kernel (always HxWxC)
BGR, RGB, GREY = 0, 1, 2
CODES = {"bgr": BGR, "rgb": RGB}
# how a cone's disparity was found (core.stereo.Cones.source, the cloud's ``source`` field)
BOX_PAIR, EPIPOLAR_SEARCH, BORDER_CUT = 0, 1, 2
# refine's outcome per cone
SKIPPED, REJECTED, ACCEPTED = 0, 1, 2

MIN_SEARCH_RADIUS = 8.0
FULL_WIDTH_SEARCH_UP_TO = 32.0
SEARCH_RADIUS = 0.25  # x box width, beyond FULL_WIDTH_SEARCH_UP_TO
# x box width (at least MIN_SEARCH_RADIUS) around the disparity of a pair cut by the left or
# the right border: its uncut edges', which errs by 0.161 x the box width at the 99th
# percentile (the fitting seeds' 333 cut pairs; the largest 0.24), not the box centres' radius
# (the box width up to 32 px, a quarter of it beyond 128 px). A left-cut cone's patch is the
# part whose match lies inside the right image at every disparity searched: the box centres'
# radius narrowed it to a few columns of horizontal stripes that correlated 0.99 at a wrong
# disparity (a 2 m cone 30 % too far)
CUT_SEARCH_RADIUS = 0.16
CUT_LEFT, CUT_RIGHT = 1, 2  # ``_cut_side``
MAX_PATCH_ROWS = 16
SMALL_BOX_PX = 10.0  # boxes narrower / lower than this: the patch is the whole box
# a box's height differs from its cone's by its two edges' noise: twice its centre's sigma in v
# for independent edges (the centre is their mean, the height their difference); only an
# excess beyond that says padded or partly hidden (core.stereo.StereoConfig.centre_sigma_excess)
EXCESS_NOISE = 2.0
# a box pair's patch: the part of its left box no box standing in front covers (_visible_part)
FRONT_MARGIN = 0.1  # x box height: a box whose bottom lies lower by more stands in front
VISIBLE_MIN_PX = 6.0  # a visible part narrower or lower than this: the whole box
VISIBLE_MIN_SHARE = 0.3  # or smaller than this share of the box (too little of the cone to
# match alone: on the fitting seeds 0.3 made fewer gross errors than the whole box, 0 more)
LK_ITERATIONS = 3
LK_MAX_PIXELS = 256  # larger patches are sampled on a grid
PROFILE_COLUMNS = 12  # columns of a patch the row search samples (its rows are all read)
HALF_MAX_PIXELS = 96  # _half_spread's grid step: the patch's pixels it keeps (about)
HALF_STEPS = 2  # _half_spread's Gauss-Newton steps per half
HALF_CONVERGED = 0.01  # px: a half whose step is smaller has found its disparity (no more
# steps; for the short boxes' two steps it moves their spreads by under 0.004 px)
# a tall box pair's halves (a near cone: another surface in its patch, a nearer cone, a person,
# a post, puts its halves pixels apart): each half may move TALL_HALF_SHIFT x the box width
# (LK_MAX_SHIFT at least) in TALL_HALF_STEPS steps
TALL_HALF_SHIFT = 0.2
TALL_HALF_STEPS = 6
LK_MAX_SHIFT = 1.0  # px from the parabola's estimate
# the left-right check (_consistency): the patch matched from the left image into the right
# and back, each by at most CONSISTENCY_STEPS of _half_step's Gauss-Newton steps on the
# HALF_MAX_PIXELS grid
CONSISTENCY_STEPS = 3
AMBIGUITY_MAX = 8.0  # px: a correlation curve flat at its peak (no curvature) says no more
AMBIGUITY_POWER = 1.5  # the disparity error grows faster than the ambiguity (fit_stereo_sigmas)
BLOCK_ROW_STEP = 24  # rows of the left frame the JPEG blockiness reads (every 24th: 30 of 720)
BORDER_PX = 2.0  # a box edge this close to the image border is cut by it (detector boxes
# of a cut cone end a pixel or two inside the image)


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
def _channel(img, code, y, x, c):
    """Channel c of the canonical order B, G, R (the one channel of a grey frame)."""
    if code == GREY:
        return np.float64(img[y, x, 0])
    if code == BGR:
        return np.float64(img[y, x, c])
    return np.float64(img[y, x, 2 - c])


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
    ib, ir = (0, 2) if code == BGR else (2, 0)  # the channels of B and R (G is 1)
    for b in range(bands):
        for j in range(width):
            out[b, j] = 0.0
        for t in range(k):
            y = y0 + b * k + t
            if code == GREY:
                for j in range(width):
                    out[b, j] += np.int64(img[y, x0 + j, 0])
            else:  # _grey, with the channel order chosen once per row
                for j in range(width):
                    out[b, j] += (np.int64(img[y, x0 + j, ib]) * 1868
                                  + np.int64(img[y, x0 + j, 1]) * 9617
                                  + np.int64(img[y, x0 + j, ir]) * 4899 + 8192) >> 14
        if k > 1:
            for j in range(width):
                out[b, j] = np.rint(out[b, j] / k)  # half to even, as OpenCV
    return bands


@inline
def _correlate(patch, bands, pw, energy, strip, sw, num, col_sum, col_sq, scores):
    """scores[k] = TM_CCOEFF_NORMED of the (zero-mean) patch at strip column k; returns the
    number of positions."""
    count = bands * pw
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
    for k in range(length):
        if k > 0:
            win_sum += col_sum[k + pw - 1] - col_sum[k - 1]
            win_sq += col_sq[k + pw - 1] - col_sq[k - 1]
        den = math.sqrt(max(win_sq - win_sum * win_sum / count, 0.0) * energy)
        if abs(num[k]) < den:  # OpenCV's rule, flat windows included
            scores[k] = num[k] / den
        elif abs(num[k]) < den * 1.125:
            scores[k] = 1.0 if num[k] > 0 else -1.0
        else:
            scores[k] = 0.0
    return length


@inline
def _peak(scores, length):
    """(first maximum, its score, the score before and after it, the highest other local
    maximum: -1 where there is none)."""
    best = 0
    for k in range(1, length):
        if scores[k] > scores[best]:
            best = k
    before = scores[best - 1] if best > 0 else 0.0
    after = scores[best + 1] if best < length - 1 else 0.0
    second = -1.0
    for k in range(length):
        if abs(k - best) > 1 and (k == 0 or scores[k] >= scores[k - 1]) and \
                (k == length - 1 or scores[k] >= scores[k + 1]) and scores[k] > second:
            second = scores[k]
    return best, scores[best], before, after, second


@inline
def _parabola(a, b, c):
    """The sub-sample offset of a peak b between neighbours a and c (0 when not a peak)."""
    denom = a - 2 * b + c
    return 0.5 * (a - c) / denom if denom < 0 else 0.0


@inline
def _blockiness(img, code):
    """How blocky the frame is, as JPEG makes it: its 8 x 8 blocks are coded apart, so the
    steps between neighbouring columns are larger across a block edge than inside a block. Per
    column phase t (column x, x + 1 with x % 8 == t) the mean absolute step along every
    BLOCK_ROW_STEP-th row of the green (grey) channel; the largest phase's mean over the other
    phases', minus 1 (0 at least): about 0.03 for a frame never JPEG-coded (the real ZED pair:
    0.05); JPEG raises it, the more the lower the quality and the flatter the picture (quality
    80: 0.5 on the randomized world's textured frames, 1.25 on a plain-world one; 30: 2-4).
    The largest phase, not phase 7: a frame cropped after coding shifts the grid. JPEG's error
    in a refined disparity grows with it, and nothing in a patch's correlation shows it (its
    peak even rises where the coding smoothed the noise). Other structure periodic in 2, 4 or
    8 columns (a frame upscaled by 2 by pixel repetition) raises it too: a wider sigma, never
    a narrower one."""
    h, w = img.shape[0], img.shape[1]
    c = 0 if code == GREY else 1  # green in BGR and RGB alike
    steps = np.zeros(8, np.int64)  # integer sums: exact, and no conversion per pixel
    counts = np.zeros(8)
    rows = 0
    for y in range(0, h, BLOCK_ROW_STEP):
        rows += 1
        for x in range(w - 1):
            steps[x & 7] += abs(np.int64(img[y, x + 1, c]) - np.int64(img[y, x, c]))
    for t in range(8):  # columns x, x + 1 with x % 8 == t, per row
        counts[t] = rows * ((w - 1 - t + 7) // 8)
    sums = steps.astype(np.float64)
    total, n = sums.sum(), counts.sum()
    best = 0.0
    for t in range(8):
        if counts[t] > 0 and n - counts[t] > 0:
            other = (total - sums[t]) / (n - counts[t])
            if other > 0:
                best = max(best, sums[t] / counts[t] / other - 1.0)
    return best


@inline
def _bilinear(img, code, y, x, c, h, w):
    """Channel c at the real position (y, x), clamped to the frame."""
    x = min(max(x, 0.0), w - 1.0)
    y = min(max(y, 0.0), h - 1.0)
    x0, y0 = int(x), int(y)
    x1, y1 = min(x0 + 1, w - 1), min(y0 + 1, h - 1)
    fx, fy = x - x0, y - y0
    top = (1 - fx) * _channel(img, code, y0, x0, c) + fx * _channel(img, code, y0, x1, c)
    bottom = (1 - fx) * _channel(img, code, y1, x0, c) + fx * _channel(img, code, y1, x1, c)
    return (1 - fy) * top + fy * bottom


@inline
def _lucas_kanade(left, right, left_code, right_code, y0, y1, p0, p1, d, dy, iterations,
                  rows_too):
    """Sub-pixel (d, dy) with left(x, y) = gain * right(x - d, y + dy) + offset per channel:
    inverse compositional Gauss-Newton on the patch [y0, y1) x [p0, p1) (a grid of at most
    LK_MAX_PIXELS of its pixels), the left image's gradients fixed; the rows too where
    ``rows_too`` and the patch has row structure (a stripe, the tip), else the columns only.
    Returns (d, dy, ok); not ok when the patch has no column structure or a step would leave
    the start by more than LK_MAX_SHIFT (the estimate before that step is returned)."""
    h, w = left.shape[0], left.shape[1]
    channels = 1 if left_code == GREY or right_code == GREY else 3
    step = 1
    while ((y1 - y0 + step - 1) // step) * ((p1 - p0 + step - 1) // step) > LK_MAX_PIXELS:
        step += 1
    ny, nx = (y1 - y0 + step - 1) // step, (p1 - p0 + step - 1) // step
    n = ny * nx
    ref = np.empty((channels, n))
    gx = np.empty((channels, n))
    gy = np.empty((channels, n))
    hxx, hxy, hyy = 0.0, 0.0, 0.0
    for c in range(channels):
        lc = 0 if left_code == GREY else (c if left_code == BGR else 2 - c)
        mean = 0.0
        for a in range(ny):
            y = y0 + a * step
            ya, yb = max(y - 1, 0), min(y + 1, h - 1)
            for b in range(nx):
                x = p0 + b * step
                xa, xb = max(x - 1, 0), min(x + 1, w - 1)
                i = a * nx + b
                ref[c, i] = np.float64(left[y, x, lc])
                gx[c, i] = (np.float64(left[y, xb, lc]) - np.float64(left[y, xa, lc])) / (xb - xa)
                gy[c, i] = ((np.float64(left[yb, x, lc]) - np.float64(left[ya, x, lc]))
                            / max(yb - ya, 1))
                mean += ref[c, i]
        mean /= n
        for i in range(n):
            ref[c, i] -= mean
            hxx += gx[c, i] * gx[c, i]
            hxy += gx[c, i] * gy[c, i]
            hyy += gy[c, i] * gy[c, i]
    if not hxx > 0:
        return d, dy, False
    det = hxx * hyy - hxy * hxy
    two_d = rows_too and hyy > 1e-3 * hxx and det > 0.05 * hxx * hyy
    warped = np.empty(n)
    d_start, dy_start = d, dy
    for _ in range(iterations):
        bx, by = 0.0, 0.0
        # the shift is the same for every pixel: one integer offset and one set of bilinear
        # weights; where the whole warped grid lies inside the frame no pixel needs clamping
        ix, iy = math.floor(-d), math.floor(dy)
        fx, fy = -d - ix, dy - iy
        inside = (p0 + ix >= 0 and p0 + (nx - 1) * step + ix + 1 <= w - 1
                  and y0 + iy >= 0 and y0 + (ny - 1) * step + iy + 1 <= h - 1)
        for c in range(channels):
            rc = 0 if right_code == GREY else (c if right_code == BGR else 2 - c)
            mean = 0.0
            for a in range(ny):
                if inside:
                    ya = y0 + a * step + iy
                    for b in range(nx):
                        xa = p0 + b * step + ix
                        top = (1 - fx) * np.float64(right[ya, xa, rc]) \
                            + fx * np.float64(right[ya, xa + 1, rc])
                        bottom = (1 - fx) * np.float64(right[ya + 1, xa, rc]) \
                            + fx * np.float64(right[ya + 1, xa + 1, rc])
                        warped[a * nx + b] = (1 - fy) * top + fy * bottom
                else:
                    for b in range(nx):
                        warped[a * nx + b] = _bilinear(right, right_code, y0 + a * step + dy,
                                                       p0 + b * step - d, c, h, w)
            for i in range(n):
                mean += warped[i]
            mean /= n
            sxy, syy = 0.0, 0.0
            for i in range(n):
                warped[i] -= mean
                sxy += ref[c, i] * warped[i]
                syy += warped[i] * warped[i]
            gain = sxy / syy if syy > 0 else 1.0
            for i in range(n):
                e = gain * warped[i] - ref[c, i]
                bx += gx[c, i] * e
                by += gy[c, i] * e
        if two_d:  # left(x + s) ~ right warped: s = H^-1 b
            sx = (hyy * bx - hxy * by) / det
            sy = (hxx * by - hxy * bx) / det
        else:
            sx, sy = bx / hxx, 0.0
        d_new, dy_new = d + sx, dy - sy
        if abs(d_new - d_start) > LK_MAX_SHIFT or abs(dy_new - dy_start) > LK_MAX_SHIFT:
            return d, dy, False
        d, dy = d_new, dy_new
        if abs(sx) < 1e-3 and abs(sy) < 1e-3:
            break
    return d, dy, True


@inline
def _half_step(left, right, left_code, right_code, y0, y1, a0, a1, step, d, dy):
    """One Gauss-Newton step of the columns [a0, a1) of the patch rows [y0, y1) (every
    ``step``-th row and column) from (d, dy), columns only, on the green channel (a grey
    frame's one): Lucas-Kanade's step with the half's own gain and offset, in one pass with
    no array: (step px, ok); not ok without column structure."""
    h, w = left.shape[0], left.shape[1]
    lc = 0 if left_code == GREY else 1  # green in B, G, R and in R, G, B
    rc = 0 if right_code == GREY else 1
    ix, iy = math.floor(-d), math.floor(dy)
    fx, fy = -d - ix, dy - iy
    inside = (a0 + ix >= 0 and a1 + ix + 1 <= w - 1 and y0 + iy >= 0 and y1 + iy + 1 <= h - 1)
    n, sr, sw, srw, sww, sg, sgw, sgr, hxx = 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    for y in range(y0, y1, step):
        for x in range(a0, a1, step):
            xa, xb = max(x - 1, 0), min(x + 1, w - 1)
            g = (np.float64(left[y, xb, lc]) - np.float64(left[y, xa, lc])) / (xb - xa)
            r = np.float64(left[y, x, lc])
            if inside:  # one integer offset and one set of bilinear weights (as Lucas-Kanade)
                ya, xw = y + iy, x + ix
                top = (1 - fx) * np.float64(right[ya, xw, rc]) \
                    + fx * np.float64(right[ya, xw + 1, rc])
                bottom = (1 - fx) * np.float64(right[ya + 1, xw, rc]) \
                    + fx * np.float64(right[ya + 1, xw + 1, rc])
                v = (1 - fy) * top + fy * bottom
            else:
                v = _bilinear(right, right_code, y + dy, x - d, 1, h, w)
            n += 1
            sr += r
            sw += v
            srw += r * v
            sww += v * v
            sg += g
            sgw += g * v
            sgr += g * r
            hxx += g * g
    if not hxx > 0:
        return 0.0, False
    rm, wm = sr / n, sw / n
    syy = sww - n * wm * wm
    gain = (srw - n * rm * wm) / syy if syy > 0 else 1.0
    # the sum of g x (gain (warped - its mean) - (ref - its mean)) over the half: the numerator
    return (gain * (sgw - wm * sg) - (sgr - rm * sg)) / hxx, True


@inline
def _steps(left, right, left_code, right_code, y0, y1, a0, a1, step, d, dy, max_shift, steps):
    """The disparity of the columns [a0, a1) of the rows [y0, y1) (every ``step``-th) from
    (d, dy): at most ``steps`` of ``_half_step``'s Gauss-Newton steps, a step under
    HALF_CONVERGED px the last. Returns (disparity, ok); not ok where the patch has no column
    structure or a step would leave d by more than ``max_shift`` (the disparity before that
    step is returned)."""
    dh = d
    for _ in range(steps):
        s, good = _half_step(left, right, left_code, right_code, y0, y1, a0, a1, step, dh, dy)
        if not good or abs(dh + s - d) > max_shift:
            return dh, False
        dh += s
        if abs(s) < HALF_CONVERGED:
            break
    return dh, True


@inline
def _consistency(left, right, left_code, right_code, box, d_lo, d_hi, d, dy):
    """The left-right check (px): the cone's patch (``_window``) matched from the left image
    into the right from its disparity d (and row offset dy), and the right image's patch at
    that match back into the left, each by ``_steps`` (the green channel, CONSISTENCY_STEPS
    steps, the HALF_MAX_PIXELS grid); how far apart the two disparities end. A patch of one
    surface gives both directions its disparity (within the noise); one that also holds
    another surface at another disparity (the background beside a far cone, smeared into its
    patch by blur along the rows; a cone beside it) holds a different mix of the two in each
    view's patch, and the two directions land apart. LK_MAX_SHIFT where a direction has no
    column structure or would leave d by more; NaN (not measured) where the right patch would
    leave the image; 0 where there is no window."""
    h, w = left.shape[0], left.shape[1]
    y0, y1, p0, p1, s0, s1 = _window(box, d_lo, d_hi, h, w)
    if p1 - p0 == 0:
        return 0.0
    step = 1
    while ((y1 - y0 + step - 1) // step) * ((p1 - p0 + step - 1) // step) > HALF_MAX_PIXELS:
        step += 1
    q0 = int(math.floor(p0 - d + 0.5))  # the right image's patch at the match
    r0 = y0 + int(math.floor(dy + 0.5))
    q1, r1 = q0 + (p1 - p0), r0 + (y1 - y0)
    if not (q0 >= 0 and q1 <= w and r0 >= 0 and r1 <= h):  # _half_step reads its first
        return np.nan  # image on the patch's pixels (their gradients clamped at the border)
    forward, good = _steps(left, right, left_code, right_code, y0, y1, p0, p1, step, d, dy,
                           LK_MAX_SHIFT, CONSISTENCY_STEPS)
    if not good:
        return LK_MAX_SHIFT
    backward, good = _steps(right, left, right_code, left_code, r0, r1, q0, q1, step, -d, -dy,
                            LK_MAX_SHIFT, CONSISTENCY_STEPS)
    if not good:
        return LK_MAX_SHIFT
    return abs(forward + backward)  # the backward disparity is -backward


@inline
def _half_spread(left, right, left_code, right_code, box, d_lo, d_hi, d, dy, by_rows,
                 max_shift, steps):
    """How far apart the disparities of the patch's two halves lie (px): its left and right
    halves, or (``by_rows``) its top and bottom ones, each matched on its own from the patch's
    disparity d (and row offset dy), at most ``steps`` Gauss-Newton steps (``_half_step``; a
    step under HALF_CONVERGED px is the last) on a grid of at most HALF_MAX_PIXELS of the
    patch's pixels. A patch of one surface gives both halves
    its disparity; one that also holds another surface at another disparity (a cone beside or
    in front, the background beside a far cone's narrow top) gives each half its own mix of
    the two, and the whole patch's match lands between them. A half without column structure,
    or whose steps would leave d by more than ``max_shift``, makes it ``max_shift`` at least; 0
    where there is no window or a half is under 2 px wide (tall)."""
    y0, y1, p0, p1, s0, s1 = _window(box, d_lo, d_hi, left.shape[0], left.shape[1])
    pm, ym = (p0 + p1) // 2, (y0 + y1) // 2
    if (ym - y0 < 2 or y1 - ym < 2) if by_rows else (pm - p0 < 2 or p1 - pm < 2):
        return 0.0
    step = 1
    while ((y1 - y0 + step - 1) // step) * ((p1 - p0 + step - 1) // step) > HALF_MAX_PIXELS:
        step += 1
    ok = True
    spread = 0.0  # the first half's disparity minus the second's
    for half in range(2):
        b0, b1, a0, a1 = y0, y1, p0, p1  # the half's rows and columns
        if by_rows:
            b0, b1 = (y0, ym) if half == 0 else (ym, y1)
        else:
            a0, a1 = (p0, pm) if half == 0 else (pm, p1)
        dh, good = _steps(left, right, left_code, right_code, b0, b1, a0, a1, step, d, dy,
                          max_shift, steps)
        ok = ok and good
        spread += dh if half == 0 else -dh
    spread = abs(spread)
    return spread if ok else max(spread, max_shift)


@inline
def _window(box, d_lo, d_hi, h_img, w_img):
    """Step 1: (y0, y1, p0, p1, s0, s1) of a cone's patch and strip, or all 0 (no window)."""
    x1, y1b, x2, y2b = box[0], box[1], box[2], box[3]
    if not (math.isfinite(x1) and math.isfinite(y1b) and math.isfinite(x2)
            and math.isfinite(y2b) and math.isfinite(d_lo) and math.isfinite(d_hi)):
        return 0, 0, 0, 0, 0, 0
    cx, cy, bw, bh = (x1 + x2) / 2, (y1b + y2b) / 2, x2 - x1, y2b - y1b
    fw = 0.3 if bw >= SMALL_BOX_PX else 0.5
    fh = 0.35 if bh >= SMALL_BOX_PX else 0.5
    p0, p1 = np.rint(cx - fw * bw), np.rint(cx + fw * bw)
    y0, y1 = np.rint(cy - fh * bh), np.rint(cy + fh * bh)
    if not (math.isfinite(p0) and math.isfinite(p1) and math.isfinite(y1 - y0)):
        return 0, 0, 0, 0, 0, 0  # finite inputs whose sums overflow: no window
    p0 = max(p0, math.ceil(d_hi))  # the part whose match can lie in the right image
    lo, hi = p0 - d_hi, p1 - d_lo
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return 0, 0, 0, 0, 0, 0
    s0 = max(math.floor(lo), 0.0)
    s1 = min(math.ceil(hi), float(w_img))
    if (p1 - p0 >= 4 and y1 - y0 >= 4 and p0 >= 0 and y0 >= 0 and p1 <= w_img
            and y1 <= h_img and s1 - s0 >= p1 - p0 + 2):
        return int(y0), int(y1), int(p0), int(p1), int(s0), int(s1)
    return 0, 0, 0, 0, 0, 0


@inline
def _refine_one(left, right, left_code, right_code, box, d_lo, d_hi, rows, row_radius,
                min_texture, patch, strip, num, col_sum, col_sq, scores, profile):
    """Steps 1-6 for one cone: (status, disparity, row offset, peak, margin, ambiguity, patch
    pixels). status SKIPPED (no window or texture), REJECTED (the peak on the search border),
    else ACCEPTED; the caller judges the peak and the margin (peak - highest other local
    maximum, 1 where there is none). ``ambiguity`` (px): how far the match may slide for the
    mismatch it already has: near its peak the correlation falls as peak - kappa s^2 / 2
    (kappa: its curvature there, the second difference of the integer shifts), so the shift
    that costs as much as the peak's own deficit (1 - peak) is sqrt(2 (1 - peak) / kappa).
    Whatever differs between the views (noise, blur mixing a cone with its background, JPEG
    blocks, a partly hidden cone) moves the match by about this much times a fitted fraction:
    a sharp silhouette (large kappa) or a near-perfect match keeps it small, a patch blurred
    flat along the row makes it large while its peak stays high. AMBIGUITY_MAX at most (also
    where the curve does not bend down)."""
    h_img, w_img = left.shape[0], left.shape[1]
    y0, y1, p0, p1, s0, s1 = _window(box, d_lo, d_hi, h_img, w_img)
    pw, sw = p1 - p0, s1 - s0
    if pw == 0:
        return SKIPPED, 0.0, 0.0, 0.0, 0.0, AMBIGUITY_MAX, 0
    bands = _band_grey(left, left_code, y0, y1, p0, p1, rows, patch)  # 2-3. grey, texture
    count = bands * pw
    mean = 0.0
    for r in range(bands):
        for j in range(pw):
            mean += patch[r, j]
    mean /= count
    energy = 0.0
    for r in range(bands):
        for j in range(pw):
            patch[r, j] -= mean
            energy += patch[r, j] * patch[r, j]
    if math.sqrt(energy / count) < min_texture:
        return SKIPPED, 0.0, 0.0, 0.0, 0.0, AMBIGUITY_MAX, 0
    _band_grey(right, right_code, y0, y1, s0, s1, rows, strip)  # 4. correlation
    length = _correlate(patch, bands, pw, energy, strip, sw, num, col_sum, col_sq, scores)
    best, peak, a, c, second = _peak(scores, length)
    shift = 0
    if row_radius > 0:  # 5. rows: the row profiles at the peak's columns
        ph = y1 - y0
        lo_row, hi_row = max(y0 - row_radius, 0), min(y1 + row_radius, h_img)
        stride = max(pw // PROFILE_COLUMNS, 1)  # a row's mean from a sample of its columns
        left_mean, left_sq = 0.0, 0.0
        for r in range(ph):
            s = 0.0
            for j in range(0, pw, stride):
                s += _grey(left, left_code, y0 + r, p0 + j)
            profile[0, r] = s
            left_mean += profile[0, r]
        left_mean /= ph
        for r in range(ph):
            profile[0, r] -= left_mean
            left_sq += profile[0, r] * profile[0, r]
        x_right = s0 + best
        for r in range(lo_row, hi_row):
            s = 0.0
            for j in range(0, pw, stride):
                s += _grey(right, right_code, r, x_right + j)
            profile[1, r - lo_row] = s
        best_row, best_score, row_scores = 0, -2.0, profile[2]
        for t in range(-row_radius, row_radius + 1):
            if y0 + t < lo_row or y1 + t > hi_row:
                row_scores[t + row_radius] = -2.0
                continue
            m = 0.0
            for r in range(ph):
                m += profile[1, y0 + t + r - lo_row]
            m /= ph
            sxy, syy = 0.0, 0.0
            for r in range(ph):
                v = profile[1, y0 + t + r - lo_row] - m
                sxy += profile[0, r] * v
                syy += v * v
            score = sxy / math.sqrt(syy * left_sq) if syy > 0 and left_sq > 0 else -1.0
            row_scores[t + row_radius] = score
            if score > best_score:
                best_row, best_score = t, score
        shift = best_row
        if shift != 0 and y0 + shift >= 0 and y1 + shift <= h_img:
            _band_grey(right, right_code, y0 + shift, y1 + shift, s0, s1, rows, strip)
            length = _correlate(patch, bands, pw, energy, strip, sw, num, col_sum, col_sq,
                                scores)
            best, peak, a, c, second = _peak(scores, length)
        else:
            shift = 0
    if not 0 < best < length - 1:
        return REJECTED, 0.0, 0.0, peak, 0.0, AMBIGUITY_MAX, pw * (y1 - y0)
    d = p0 - (s0 + best + _parabola(a, peak, c))  # 6. sub-pixel
    dy = float(shift)
    if row_radius > 0 and -row_radius < shift < row_radius:
        k = shift + row_radius
        dy += _parabola(profile[2, k - 1], profile[2, k], profile[2, k + 1])
    d, dy, _ = _lucas_kanade(left, right, left_code, right_code, y0, y1, p0, p1, d, dy,
                             LK_ITERATIONS, row_radius > 0)
    margin = peak - second if second > -1.0 else 1.0
    kappa = 2.0 * peak - a - c
    ambiguity = AMBIGUITY_MAX
    if kappa > 0:
        ambiguity = min(math.sqrt(2.0 * max(1.0 - peak, 0.0) / kappa), AMBIGUITY_MAX)
    return ACCEPTED, d, dy, peak, margin, ambiguity, pw * (y1 - y0)


def refine(left, right, left_code, right_code, boxes, d_lo, d_hi, rows, row_radius,
           min_texture, status, disparity, row_offset, peaks, margins, ambiguities):
    """``refine`` for each cone i of ``boxes`` (n, 4) xyxy left boxes over the disparities
    [d_lo[i], d_hi[i]]: writes status[i] (SKIPPED / REJECTED / ACCEPTED), and where accepted
    disparity[i], row_offset[i] (right minus left rows), peaks[i], margins[i] and
    ambiguities[i] (``_refine_one``; steps 1-6 of
    the module docstring). ``left``/``right``: HxWxC uint8 frames of channel codes BGR, RGB or
    GREY (C = 1)."""
    n = boxes.shape[0]
    max_w, max_h = 1, 1
    for i in range(n):
        y0, y1, p0, p1, s0, s1 = _window(boxes[i], d_lo[i], d_hi[i], left.shape[0],
                                         left.shape[1])
        max_w = max(max_w, s1 - s0)
        max_h = max(max_h, y1 - y0 + 2 * row_radius)
    patch = np.empty((2 * rows, max_w))
    strip = np.empty((2 * rows, max_w))
    num, col_sum, col_sq = np.empty(max_w), np.empty(max_w), np.empty(max_w)
    scores = np.empty(max_w)
    profile = np.empty((3, max(max_h, 2 * row_radius + 1)))
    for i in range(n):
        st, d, dy, peak, margin, ambiguity, _ = _refine_one(
            left, right, left_code, right_code, boxes[i], d_lo[i], d_hi[i], rows, row_radius,
            min_texture, patch, strip, num, col_sum, col_sq, scores, profile)
        status[i] = st
        peaks[i] = peak
        if st == ACCEPTED:
            disparity[i], row_offset[i], margins[i] = d, dy, margin
            ambiguities[i] = ambiguity


def _refine_signature(t):
    image = t.Array(t.uint8, 3, "A", readonly=True)
    floats = t.Array(t.float64, 1, "A", readonly=True)
    return t.void(image, image, t.int64, t.int64, t.Array(t.float64, 2, "A", readonly=True),
                  floats, floats, t.int64, t.int64, t.float64, t.int8[::1], t.float64[::1],
                  t.float64[::1], t.float32[::1], t.float32[::1], t.float32[::1])


INFEASIBLE = 1e6  # the cost of a pair that cannot be one cone (any feasible cost is < 10)
IMPLAUSIBLE = 2e6  # ... that would be one but for the size prior


@inline
def _cut_side(lx1, lx2, rx1, rx2, width):
    """Which one image border cuts a box pair (left box x lx1..lx2, right box rx1..rx2), in
    either view: CUT_LEFT, CUT_RIGHT, or 0 for neither or both (its box centres then serve)."""
    cut_left = lx1 <= BORDER_PX or rx1 <= BORDER_PX
    cut_right = lx2 >= width - BORDER_PX or rx2 >= width - BORDER_PX
    if cut_left and not cut_right:
        return CUT_LEFT
    if cut_right and not cut_left:
        return CUT_RIGHT
    return 0


@inline
def _pair_disparity(lx1, lx2, rx1, rx2, width):
    """A box pair's disparity: the box centres', or, for a cone cut by the left (right) image
    border in either view (``_cut_side``), its right (left) edges', which the border does not
    move; NaN for a box that is not finite."""
    if not (math.isfinite(lx1) and math.isfinite(lx2) and math.isfinite(rx1)
            and math.isfinite(rx2)):
        return math.nan
    side = _cut_side(lx1, lx2, rx1, rx2, width)
    if side == CUT_LEFT:
        return lx2 - rx2
    if side == CUT_RIGHT:
        return lx1 - rx1
    return (lx1 + lx2) / 2 - (rx1 + rx2) / 2


def match_costs(left_boxes, right_boxes, left_classes, right_classes, prior_lo, prior_hi,
                prior_centre, prior_sigma, d_min, d_max, row_tolerance_px,
                max_log_height_ratio, width, cost, disparity):
    """cost[i, j] for left box i and right box j (xyxy), and disparity[i, j] their disparity
    (``_pair_disparity``; ``width``: the image width): the squared sum of the row misalignment (centre rows apart, over
    row_tolerance_px + a tenth of the smaller box height), the size difference (log of the
    height ratio, over the largest allowed) and the distance of the disparity from the one
    the left box's height predicts (over its sigma), where the pair can be one cone: same
    class, rows within the tolerance, disparity in [d_min, d_max] and in the left box's
    plausible range [prior_lo[i], prior_hi[i]], heights within the ratio; else INFEASIBLE
    (IMPLAUSIBLE where only the plausible range fails). NaN boxes are never feasible."""
    for i in range(left_boxes.shape[0]):
        lx1, ly1 = np.float64(left_boxes[i, 0]), np.float64(left_boxes[i, 1])
        lx2, ly2 = np.float64(left_boxes[i, 2]), np.float64(left_boxes[i, 3])
        l_cy, l_h = (ly1 + ly2) / 2, max(ly2 - ly1, 1e-3)
        for j in range(right_boxes.shape[0]):
            rx1, ry1 = np.float64(right_boxes[j, 0]), np.float64(right_boxes[j, 1])
            rx2, ry2 = np.float64(right_boxes[j, 2]), np.float64(right_boxes[j, 3])
            r_h = max(ry2 - ry1, 1e-3)
            row_error = abs(l_cy - (ry1 + ry2) / 2) / (row_tolerance_px + 0.1 * min(l_h, r_h))
            ratio = l_h / r_h  # 0 or inf with an infinite box: never feasible
            size_error = abs(math.log(ratio)) if 0.0 < ratio < math.inf else math.inf
            d = _pair_disparity(lx1, lx2, rx1, rx2, width)
            disparity[i, j] = d
            if (left_classes[i] == right_classes[j] and row_error <= 1.0
                    and d >= d_min and d <= d_max and size_error <= max_log_height_ratio):
                if d >= prior_lo[i] and d <= prior_hi[i]:
                    prior_error = (d - prior_centre[i]) / prior_sigma[i]
                    cost[i, j] = (row_error * row_error
                                  + (size_error / max(max_log_height_ratio, 1e-9)) ** 2
                                  + prior_error * prior_error)
                else:
                    cost[i, j] = IMPLAUSIBLE
            else:
                cost[i, j] = INFEASIBLE


def ambiguous(cost, disparity, left_index, right_index, margin, has_prior, out):
    """out[k] for the assigned pair (left_index[k], right_index[k]): another feasible partner of
    either box (cost below INFEASIBLE) costs at most ``margin`` more and lies more than
    max(1 px, a tenth of the pair's disparity) from its disparity; only for left boxes with a
    size prior (``has_prior``)."""
    for k in range(left_index.shape[0]):
        i, j = left_index[k], right_index[k]
        out[k] = False
        if not has_prior[i]:
            continue
        mine, limit = disparity[i, j], cost[i, j] + margin
        apart = max(1.0, 0.1 * abs(mine))
        for m in range(cost.shape[1]):
            if m != j and cost[i, m] < INFEASIBLE and cost[i, m] <= limit \
                    and abs(disparity[i, m] - mine) > apart:
                out[k] = True
        for m in range(cost.shape[0]):
            if m != i and cost[m, j] < INFEASIBLE and cost[m, j] <= limit \
                    and abs(disparity[m, j] - mine) > apart:
                out[k] = True


def duplicates(boxes, disparity, sigma_d, searched, located, min_iou, sigmas, out):
    """out[k] for every cone k (left ``boxes`` (n, 4) xyxy, ``disparity`` and its sigma
    ``sigma_d``, in locate order): a searched cone (``searched[k]``) whose left box overlaps an
    earlier located cone's (j < k, ``located[j]``) by IoU >= ``min_iou`` (in float64: the
    intersection over the union, NaN and empty boxes never overlap) with the two disparities
    within ``sigmas`` x hypot(sigma_d[k], sigma_d[j]) (core.stereo.search_duplicates)."""
    for k in range(boxes.shape[0]):
        out[k] = False
        if not searched[k]:
            continue
        ax1, ay1, ax2, ay2, _ = _box(boxes, k)
        area = (ax2 - ax1) * (ay2 - ay1)
        for j in range(k):
            if not located[j]:
                continue
            bx1, by1, bx2, by2, _ = _box(boxes, j)
            w = max(min(ax2, bx2) - max(ax1, bx1), 0.0)
            h = max(min(ay2, by2) - max(ay1, by1), 0.0)
            inter = w * h
            iou = inter / (area + (bx2 - bx1) * (by2 - by1) - inter)
            if iou >= min_iou and abs(np.float64(disparity[k]) - np.float64(disparity[j])) \
                    <= sigmas * math.hypot(sigma_d[k], sigma_d[j]):
                out[k] = True
                break


def _duplicates_signature(t):
    floats = t.Array(t.float64, 1, "A", readonly=True)
    flags = t.Array(t.boolean, 1, "A", readonly=True)
    return t.void(t.Array(t.float32, 2, "A", readonly=True), floats, floats, flags, flags,
                  t.float64, t.float64, t.boolean[::1])


def _ambiguous_signature(t):
    matrix = t.Array(t.float64, 2, "A", readonly=True)
    index = t.Array(t.int64, 1, "A", readonly=True)
    return t.void(matrix, matrix, index, index, t.float64, t.Array(t.boolean, 1, "A",
                                                                     readonly=True),
                  t.boolean[::1])


def _match_signature(t):
    boxes = t.Array(t.float32, 2, "A", readonly=True)
    classes = t.Array(t.int64, 1, "A", readonly=True)
    floats = t.Array(t.float64, 1, "A", readonly=True)
    return t.void(boxes, boxes, classes, classes, floats, floats, floats, floats, t.float64,
                  t.float64, t.float64, t.float64, t.float64, t.float64[:, ::1],
                  t.float64[:, ::1])


@inline
def _triangulate(u, v, d, camera):
    """Left pixel (u, v) with disparity d -> (X, Y, Z) in the left optical frame."""
    fx, fy, cx, cy, fx_baseline, doffs, x_offset = camera
    z = fx_baseline / (d - doffs)
    return (u - cx) * z / fx - x_offset, (v - cy) * z / fy, z


@inline
def _box(boxes, i):
    """Box i of ``boxes`` (n, 4) xyxy as float64 (x1, y1, x2, y2) and whether all four are
    finite."""
    x1, y1 = np.float64(boxes[i, 0]), np.float64(boxes[i, 1])
    x2, y2 = np.float64(boxes[i, 2]), np.float64(boxes[i, 3])
    return x1, y1, x2, y2, (math.isfinite(x1) and math.isfinite(y1) and math.isfinite(x2)
                            and math.isfinite(y2))


@inline
def _overlap_share(boxes, i):
    """The largest share of box i's area that one other box of ``boxes`` (n, 4) covers (0 for
    an empty or non-finite box i, and where none overlaps it)."""
    x1, y1, x2, y2, _ = _box(boxes, i)
    area = (x2 - x1) * (y2 - y1)
    if not area > 0:
        return 0.0
    best = 0.0
    for j in range(boxes.shape[0]):
        a1, b1, a2, b2, finite = _box(boxes, j)
        if j == i or not finite:
            continue
        w = min(x2, a2) - max(x1, a1)
        h = min(y2, b2) - max(y1, b1)
        if w > 0 and h > 0:
            best = max(best, w * h)
    return min(best / area, 1.0) if math.isfinite(area) else 0.0


@inline
def _visible_part(boxes, i, out):
    """out (4,) = the part of box i of ``boxes`` (n, 4) xyxy that no box standing in front of
    it covers. On flat ground a box whose bottom lies lower (by more than FRONT_MARGIN x box
    i's height: a second box on the same cone ends within that) is a nearer cone, and where
    it overlaps box i it may hide part of that cone: a patch holding it matches the nearer
    cone's disparity. Of the parts of box i above the front boxes' tops, left of their left
    edges and right of their right edges, the largest; box i itself where no box stands in
    front of it or where that part is under VISIBLE_MIN_PX wide or high or under
    VISIBLE_MIN_SHARE of the box. Returns whether it is a part (not box i)."""
    x1, y1, x2, y2, finite = _box(boxes, i)
    out[0], out[1], out[2], out[3] = x1, y1, x2, y2
    if not finite:
        return False
    margin = max(1.0, FRONT_MARGIN * (y2 - y1))
    top, left_edge, right_edge = y2, x2, x1
    front = False
    for j in range(boxes.shape[0]):
        a1, b1, a2, b2, finite = _box(boxes, j)
        if j == i or not finite:
            continue
        if b2 > y2 + margin and min(x2, a2) > max(x1, a1) and min(y2, b2) > max(y1, b1):
            front = True
            top, left_edge, right_edge = min(top, b1), min(left_edge, a1), max(right_edge, a2)
    if not front:
        return False
    top, left_edge, right_edge = max(top, y1), max(left_edge, x1), min(right_edge, x2)
    above, beside_left = (x2 - x1) * (top - y1), (left_edge - x1) * (y2 - y1)
    beside_right = (x2 - right_edge) * (y2 - y1)
    if above >= beside_left and above >= beside_right:
        a1, b1, a2, b2 = x1, y1, x2, top
    elif beside_left >= beside_right:
        a1, b1, a2, b2 = x1, y1, left_edge, y2
    else:
        a1, b1, a2, b2 = right_edge, y1, x2, y2
    if (a2 - a1 >= VISIBLE_MIN_PX and b2 - b1 >= VISIBLE_MIN_PX
            and (a2 - a1) * (b2 - b1) >= VISIBLE_MIN_SHARE * (x2 - x1) * (y2 - y1)):
        out[0], out[1], out[2], out[3] = a1, b1, a2, b2
        return True
    return False


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
           right_index, search_lo, search_hi, sizes, scores, camera, image_size, disparity_range,
           refine_on, rows, row_radius, thresholds, sigmas, xyz, covariance, disparity, row_offset,
           peak, source, refined, valid, overlap, spread, ambiguity, blockiness, consistency):
    """Cone k is left box left_index[k] with right box right_index[k], or, where
    right_index[k] < 0, the left box alone, searched for in the right image over the
    disparities [search_lo[k], search_hi[k]] (the range its height makes plausible).

    Geometry: a box pair's disparity is its box-centre disparity, or, for a cone cut by the
    left (right) image border in either view, the difference of its right (left) edges, which
    the border does not move. Then (``refine_on``) ``refine`` over that disparity +- the
    search radius (for a pair cut by one border CUT_SEARCH_RADIUS x its box width: what its
    edges' disparity errs by), on the part of its left box no box in front of it covers
    (``_visible_part``) and on the whole box where that part is not matched; a search over the
    plausible range. A box pair keeps its box
    disparity where refinement fails or correlates below ``min_correlation``; a search is
    valid only with a peak of at least ``min_search_correlation`` that beats every other
    local maximum by ``min_search_margin``. The point is the cone's axis at half height: the
    left box centre, lifted by the box's offset (its base plate's near edge reaches below the
    axis: more so, the nearer, the wider the plate and the more from above the cone is seen: a
    reach set by the depth and the plate, not by the cone's height); for a cut box the uncut
    edge moved in by half the width (height) a cone of that type has at that depth
    (``sizes`` (k, 2): real base width and height, m). ``scores`` (k,): the left detections'
    confidence (a less sure box has a less sure centre). ``overlap`` (k,):
    written, the largest share of the left box one other left box covers (``_overlap_share``,
    core.stereo.box_overlap's definition): a box or a patch that holds part of another cone,
    nearer or farther, mixes two cones (a box pair's patch leaves out what a box in front of
    it covers, its box does not).

    ``thresholds`` = (min_texture, min_correlation, min_search_correlation, min_search_margin);
    ``sigmas`` = (box centre sigma in u: px, x width, x width^2 / 100; in v: px, x height,
    x height^2 / 100; both x 10 / the box width (height); a box pair's all of it x (1 + x
    (below - score)) where its score is below ``below``, one factor in u, one in v; in v also
    x the box height's difference from a cone's at that depth beyond EXCESS_NOISE x the box's
    own v sigma (its px, height, height^2 and small-box terms, before the score, overlap and
    search factors); a box pair's in quadrature
    x its overlap x box width (height); a box pair's, last, in quadrature x how far its right
    box's centre, moved by the disparity (and the rows found), lies from its left box's, one
    scale in u, one in v (not along an axis a border cuts in either view); the box centre's
    offset below the axis: px, x fy x the type's base width / Z^2 (core.stereo.StereoConfig.
    sigmas: the plate factor x the camera's height); disparity sigma from boxes; refined:
    hypot(constant, x disparity, x 10 / box height), then in
    quadrature x its ambiguity ^ AMBIGUITY_POWER (``_refine_one``: written to ``ambiguity``, NaN where not
    refined), x the left frame's JPEG blockiness (``_blockiness``, written to ``blockiness``
    for every cone; 0 without frames) and x its overlap x box width; then, for a box pair
    whose left box is shorter than ``pair_below_px``, in quadrature x the spread of its
    patch's top and bottom halves (``_half_spread`` by rows on the patch it was refined on,
    written to ``spread``) beyond 2 x that sigma, for a taller one, where the larger spread of
    its patch's top and bottom and its left and right halves (each half free to move
    TALL_HALF_SHIFT x the box width, written to ``spread``) is ``tall_gate_px`` or more, in
    quadrature x that spread; a search:
    hypot(that x factor, x disparity), then in quadrature, from a left box ``large_px`` or
    taller, x its own scale x the spread of its patch's left and right halves beyond 2 x that
    sigma, from a shorter one, x the box pairs' scale x its top and bottom halves' (``spread``:
    NaN for the other cones and where not refined); then, every refined cone, in quadrature
    x its left-right check (``_consistency``, written to ``consistency``: NaN where not
    refined, not measured or the scale is 0) beyond the gate x its disparity; the centre
    sigmas hypot(x factor, x box width / height);
    a cut cone's position sigma x its size, a cut cone's disparity sigma), core.stereo.
    StereoConfig.sigmas(). Writes xyz (k, 3) and covariance (k, 3, 3) float32, disparity,
    row_offset (right minus left rows found, NaN where not refined), peak, overlap,
    source (BOX_PAIR, EPIPOLAR_SEARCH, BORDER_CUT), refined, valid. ``camera`` = (fx, fy, cx,
    cy, fx B, doffs, Tx_left / fx); ``image_size`` = (width, height) of the frames (the borders,
    also where no frames are passed)."""
    n = left_index.shape[0]
    w_img, h_img = image_size
    min_texture, min_correlation, min_search_corr, min_search_margin = thresholds
    (centre_u_px, centre_u, centre_u2, centre_v_px, centre_v, centre_v2, centre_small,
     score_below, centre_score_u, centre_score_v, centre_overlap, centre_excess, centre_pair_u,
     centre_pair_v, bias_px, bias_plate, sigma_box, sigma_refined, sigma_slope, sigma_small,
     sigma_ambiguity, sigma_blockiness, sigma_overlap, sigma_pair_spread, pair_below_px,
     sigma_tall_spread, tall_gate_px, search_d, search_d_slope, search_uv, search_uv_size,
     large_px, search_spread, sigma_consistency, consistency_gate, cut_factor, cut_d) = sigmas
    boxes = np.empty((n, 4))
    lo = np.empty(n)
    hi = np.empty(n)
    d = np.empty(n)
    cut = np.zeros((n, 4), np.bool_)  # the left box at the left, right, top, bottom border
    share = np.empty(n)
    for k in range(n):
        share[k] = _overlap_share(left_boxes, left_index[k])
        overlap[k] = share[k]
        i, j = left_index[k], right_index[k]
        for c in range(4):
            boxes[k, c] = left_boxes[i, c]
        bx1, by1, bx2, by2 = boxes[k, 0], boxes[k, 1], boxes[k, 2], boxes[k, 3]
        cut[k, 0], cut[k, 1] = bx1 <= BORDER_PX, bx2 >= w_img - BORDER_PX
        cut[k, 2], cut[k, 3] = by1 <= BORDER_PX, by2 >= h_img - BORDER_PX
        lo[k], hi[k] = search_lo[k], search_hi[k]  # the size prior's range
        if j >= 0:
            rx1, rx2 = np.float64(right_boxes[j, 0]), np.float64(right_boxes[j, 2])
            d[k] = _pair_disparity(bx1, bx2, rx1, rx2, w_img)
            if _cut_side(bx1, bx2, rx1, rx2, w_img) != 0:  # around its uncut edges' disparity
                radius = max(CUT_SEARCH_RADIUS * (bx2 - bx1), MIN_SEARCH_RADIUS)
            else:
                radius = max(max(min(bx2 - bx1, FULL_WIDTH_SEARCH_UP_TO),
                                 SEARCH_RADIUS * (bx2 - bx1)), MIN_SEARCH_RADIUS)
            lo[k], hi[k] = max(d[k] - radius, lo[k]), min(d[k] + radius, hi[k])
        else:
            d[k] = (lo[k] + hi[k]) / 2
    status = np.zeros(n, np.int8)
    found = d.copy()
    rows_found = np.full(n, np.nan)
    peaks = np.zeros(n, np.float32)
    margins = np.zeros(n, np.float32)
    ambiguities = np.full(n, AMBIGUITY_MAX, np.float32)
    block = _blockiness(left, left_code) if refine_on and n else 0.0
    patches = boxes.copy()  # the patch each cone's disparity was refined on
    if refine_on and n:
        # a box pair's patch: the part of its left box no box in front covers (a search's: the
        # whole box, whose sigma terms are fitted so); the whole box where that part is not
        # matched
        narrowed = np.zeros(n, np.bool_)
        for k in range(n):
            if right_index[k] >= 0:
                narrowed[k] = _visible_part(left_boxes, left_index[k], patches[k])
        _refine_inline(left, right, left_code, right_code, patches, lo, hi, rows, row_radius,
                       min_texture, status, found, rows_found, peaks, margins, ambiguities)
        for k in range(n):
            narrowed[k] = narrowed[k] and not (status[k] == ACCEPTED
                                               and peaks[k] >= min_correlation)
        again = np.flatnonzero(narrowed)
        if again.size:
            m = again.size
            status2, found2 = np.zeros(m, np.int8), d[again].copy()
            rows2, peaks2 = np.full(m, np.nan), np.zeros(m, np.float32)
            margins2 = np.zeros(m, np.float32)
            ambiguities2 = np.full(m, AMBIGUITY_MAX, np.float32)
            _refine_inline(left, right, left_code, right_code, boxes[again], lo[again],
                           hi[again], rows, row_radius, min_texture, status2, found2, rows2,
                           peaks2, margins2, ambiguities2)
            for q in range(m):
                k = again[q]
                for c in range(4):
                    patches[k, c] = boxes[k, c]
                status[k], found[k], rows_found[k] = status2[q], found2[q], rows2[q]
                peaks[k], margins[k] = peaks2[q], margins2[q]
                ambiguities[k] = ambiguities2[q]
    cov = np.empty((3, 3))
    for k in range(n):
        searched = right_index[k] < 0
        ok = status[k] == ACCEPTED
        if searched:
            ok = ok and peaks[k] >= min_search_corr and margins[k] >= min_search_margin
            valid[k] = ok
        else:
            ok = ok and peaks[k] >= min_correlation
            valid[k] = True
        refined[k] = ok
        peak[k] = peaks[k]
        spread[k] = np.nan
        consistency[k] = np.nan
        ambiguity[k] = ambiguities[k] if ok else np.nan
        blockiness[k] = block
        if ok:
            d[k] = found[k]
        row_offset[k] = rows_found[k] if ok else np.nan
        d[k] = min(max(d[k], disparity_range[0]), disparity_range[1])
        bw, bh = boxes[k, 2] - boxes[k, 0], boxes[k, 3] - boxes[k, 1]
        if ok:
            sigma_d = math.hypot(math.hypot(sigma_refined, sigma_slope * d[k]),
                                 sigma_small * 10 / max(bh, 1.0))
            # how far the match may slide for its own mismatch (a patch blurred flat along
            # the row, JPEG blocks, noise: _refine_one; it holds the peak's deficit)
            sigma_d = math.hypot(sigma_d, sigma_ambiguity * ambiguities[k] ** AMBIGUITY_POWER)
            # JPEG's blocks: an error the correlation does not show (_blockiness)
            sigma_d = math.hypot(sigma_d, sigma_blockiness * block)
            # part of another cone in the patch: its disparity pulls the match (a mix)
            sigma_d = math.hypot(sigma_d, sigma_overlap * share[k] * bw)
            if not searched and bh < pair_below_px:  # a short box: do its patch's top and
                # bottom halves agree? (a mix with the background beside its narrow top, a
                # cone no box marks, blur that smears them together): the spread beyond what
                # the sigma itself gives two halves
                halves = _half_spread(left, right, left_code, right_code, patches[k], lo[k],
                                      hi[k], found[k], rows_found[k], True, LK_MAX_SHIFT,
                                      HALF_STEPS)
                spread[k] = halves
                sigma_d = math.hypot(sigma_d, sigma_pair_spread * max(halves - 2.0 * sigma_d,
                                                                      0.0))
            elif not searched and sigma_tall_spread > 0:  # a tall box (a near cone): do its
                # patch's halves, top and bottom, left and right, find the same disparity? A
                # patch that holds another surface too (a nearer cone, a person, a post) gives
                # them disparities pixels apart, and the match may follow either: a spread of
                # tall_gate_px or more widens the sigma by the spread (below it, a near cone's
                # own relief); a scale of 0 measures nothing (NaN)
                shift = max(TALL_HALF_SHIFT * bw, LK_MAX_SHIFT)
                halves = max(_half_spread(left, right, left_code, right_code, patches[k],
                                          lo[k], hi[k], found[k], rows_found[k], True, shift,
                                          TALL_HALF_STEPS),
                             _half_spread(left, right, left_code, right_code, patches[k],
                                          lo[k], hi[k], found[k], rows_found[k], False, shift,
                                          TALL_HALF_STEPS))
                spread[k] = halves
                if halves >= tall_gate_px:
                    sigma_d = math.hypot(sigma_d, sigma_tall_spread * halves)
            if searched:
                sigma_d = math.hypot(sigma_d * search_d, search_d_slope * d[k])
                # do its patch's halves agree? A near cone's (large_px or taller) left and right
                # halves, with their own scale; a far one's top and bottom, as a short box
                # pair's, with the box pairs' scale
                near = bh >= large_px
                halves = _half_spread(left, right, left_code, right_code, boxes[k], lo[k],
                                      hi[k], found[k], rows_found[k], not near, LK_MAX_SHIFT,
                                      HALF_STEPS)
                spread[k] = halves
                sigma_d = math.hypot(sigma_d, (search_spread if near else sigma_pair_spread)
                                     * max(halves - 2.0 * sigma_d, 0.0))
            if sigma_consistency > 0:  # matched from the right image back, does the patch
                # find the same disparity? A patch that holds another surface too (the
                # background beside a far cone, smeared into it by blur along the rows)
                # holds another mix of the two in each view and the two directions land
                # apart; beyond consistency_gate x d (the two directions' own noise) the
                # sigma widens with it
                check = _consistency(left, right, left_code, right_code, patches[k], lo[k],
                                     hi[k], found[k], rows_found[k])
                consistency[k] = check
                if math.isfinite(check):  # NaN: the right patch would leave the image
                    sigma_d = math.hypot(sigma_d, sigma_consistency
                                         * max(check - consistency_gate * d[k], 0.0))
        else:
            sigma_d = sigma_box
        z = camera[4] / (d[k] - camera[5])
        # the box centre lies below the axis at half height: the base plate's near edge reaches
        # below the axis's foot by about (camera height) x (plate width / 2) x fy / Z^2 px (seen
        # from above); the box's own bias on top
        bias = bias_px + bias_plate * camera[1] * sizes[k, 0] / (z * z)
        u, v = (boxes[k, 0] + boxes[k, 2]) / 2, (boxes[k, 1] + boxes[k, 3]) / 2 - bias
        # a box at the left or right (top or bottom) border, in either view
        cut_u, cut_v = cut[k, 0] or cut[k, 1], cut[k, 2] or cut[k, 3]
        if not searched:  # the right box at a border too (the disparity from its edges)
            j = right_index[k]
            cut_u = (cut_u or right_boxes[j, 0] <= BORDER_PX
                     or right_boxes[j, 2] >= w_img - BORDER_PX)
            cut_v = (cut_v or right_boxes[j, 1] <= BORDER_PX
                     or right_boxes[j, 3] >= h_img - BORDER_PX)
        source[k] = (BORDER_CUT if cut_u or cut_v
                     else EPIPOLAR_SEARCH if searched else BOX_PAIR)
        source_cut = source[k] == BORDER_CUT
        sigma_u = math.hypot(math.hypot(centre_u_px, centre_u * bw),
                             math.hypot(centre_u2 * bw * bw / 100, centre_small * 10 / max(bw, 1.0)))
        sigma_v = math.hypot(math.hypot(centre_v_px, centre_v * bh),
                             math.hypot(centre_v2 * bh * bh / 100, centre_small * 10 / max(bh, 1.0)))
        box_v = sigma_v  # the box's own noise in v (a sure box pair's, no other cone in it)
        if searched:  # the right detector missed these: more of them are partly hidden (their
            # own terms, fitted on them, hold what their lower scores say)
            sigma_u = math.hypot(sigma_u * search_uv, search_uv_size * bw)
            sigma_v = math.hypot(sigma_v * search_uv, search_uv_size * bh)
        else:  # a box pair the detector is less sure of: a looser centre; one another box
            # overlaps: its edges may follow the other cone's
            unsure = max(score_below - scores[k], 0.0)
            sigma_u = math.hypot(sigma_u * (1.0 + centre_score_u * unsure),
                                 centre_overlap * share[k] * bw)
            sigma_v = math.hypot(sigma_v * (1.0 + centre_score_v * unsure),
                                 centre_overlap * share[k] * bh)
        # a box taller or shorter than a cone of its type at that depth (beyond its base plate's
        # reach below: 2 x the offset, and beyond its edges' own noise) has a less certain row:
        # padded or partly hidden
        excess = abs(bh - camera[1] * sizes[k, 1] / z - 2 * bias) - EXCESS_NOISE * box_v
        sigma_v = math.hypot(sigma_v, centre_excess * max(excess, 0.0))
        if not searched:  # the right box: a second look at the centre. Moved by the
            # disparity (and the rows the match found), its centre lands on the left box's
            # within the two boxes' own noise; boxes that disagree (one padded, cut short by
            # blur or by another cone, a detector unsure of the edges) say the centre is less
            # sure, by how far apart they are. Along an axis a border cuts (in either view),
            # the boxes' centres say nothing (that axis has the cut terms). A pair the
            # refinement did not match has the box disparity (no offset in u) and no rows: its
            # boxes' row difference as it is (on a knocked rig, a wider sigma in v)
            j = right_index[k]
            if not cut_u:
                pair_u = ((boxes[k, 0] + boxes[k, 2]) / 2
                          - (np.float64(right_boxes[j, 0]) + right_boxes[j, 2]) / 2 - d[k])
                sigma_u = math.hypot(sigma_u, centre_pair_u * pair_u)
            if not cut_v:
                rows_k = np.float64(row_offset[k]) if ok else 0.0  # NaN where not refined
                pair_v = ((boxes[k, 1] + boxes[k, 3]) / 2
                          - (np.float64(right_boxes[j, 1]) + right_boxes[j, 3]) / 2 + rows_k)
                sigma_v = math.hypot(sigma_v, centre_pair_v * pair_v)
        if source_cut:  # the edges' disparity and the narrowed patch are less sure
            sigma_d = math.hypot(sigma_d, cut_d)
        if cut[k, 0] != cut[k, 1]:  # the position from the uncut edge: half the width a cone
            edge = boxes[k, 2] if cut[k, 0] else boxes[k, 0]  # of this type has there (wider
            width_px = camera[0] * sizes[k, 0] / z * (1 + abs(edge - camera[2]) / camera[0])
            u = edge - width_px / 2 if cut[k, 0] else edge + width_px / 2  # off the axis)
            sigma_u = math.hypot(sigma_u, cut_factor * width_px)
        if cut[k, 2] != cut[k, 3]:  # the tip is exact; the base reaches 2 x bias lower
            edge = boxes[k, 3] if cut[k, 2] else boxes[k, 1]
            height_px = camera[1] * sizes[k, 1] / z * (1 + abs(edge - camera[3]) / camera[1])
            v = edge - height_px / 2 - 2 * bias if cut[k, 2] else edge + height_px / 2
            sigma_v = math.hypot(sigma_v, cut_factor * height_px)
        x, y, zz = _triangulate(u, v, d[k], camera)
        xyz[k, 0], xyz[k, 1], xyz[k, 2] = x, y, zz
        _covariance(np.float64(xyz[k, 0]), np.float64(xyz[k, 1]), np.float64(xyz[k, 2]), d[k],
                    sigma_u, sigma_v, sigma_d, camera, cov)
        for r in range(3):
            for c in range(3):
                covariance[k, r, c] = cov[r, c]
        disparity[k] = d[k]


def _locate_signature(t):
    image = t.Array(t.uint8, 3, "A", readonly=True)
    boxes = t.Array(t.float32, 2, "A", readonly=True)
    index = t.Array(t.int64, 1, "A", readonly=True)
    floats = t.Array(t.float64, 1, "A", readonly=True)
    return t.void(image, image, t.int64, t.int64, boxes, boxes, index, index, floats, floats,
                  t.Array(t.float64, 2, "A", readonly=True), floats, t.UniTuple(t.float64, 7),
                  t.UniTuple(t.float64, 2), t.UniTuple(t.float64, 2), t.boolean, t.int64, t.int64,
                  t.UniTuple(t.float64, 4), t.UniTuple(t.float64, 37), t.float32[:, ::1],
                  t.float32[:, :, ::1], t.float32[::1], t.float32[::1], t.float32[::1],
                  t.uint8[::1], t.boolean[::1], t.boolean[::1], t.float32[::1], t.float32[::1],
                  t.float32[::1], t.float32[::1], t.float32[::1])


_refine_inline = inline(refine)  # inside ``locate``
# the entry points: take every frame the node sees (contiguous or strided rows, read-only or not)
refine_compiled = Kernel(refine, _refine_signature)
match_costs_compiled = Kernel(match_costs, _match_signature)
ambiguous_compiled = Kernel(ambiguous, _ambiguous_signature)
duplicates_compiled = Kernel(duplicates, _duplicates_signature)
locate_compiled = Kernel(locate, _locate_signature)
