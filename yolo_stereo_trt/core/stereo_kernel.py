"""The stereo stage's arithmetic per box pair and per cone, compiled (core.jit): the matching
costs of every left/right pair, then for the matched cones the box geometry, the sub-pixel
refinement (core.refine_kernel), the disparity sigma, triangulation and covariance, in one call.

The model is core.stereo's (its module docstring): a cone seen at left pixel (u, v) with
disparity d lies at Z = fx B / (d - doffs), X = (u - cx) Z / fx - Tx_left / fx,
Y = (v - cy) Z / fy; its covariance is J diag(su^2, sv^2, sd^2) J^T with J the Jacobian of
(X, Y, Z) in (u, v, d). NumPy would take ~75 calls per pair for the same (a few microseconds
each, more when the caches are cold between pairs); here it is two calls and the assignment.
test/test_stereo.py holds both to the NumPy definitions.
"""
from __future__ import annotations

import math

import numpy as np

from .jit import Kernel, inline
from .refine_kernel import MAX_PATCH_ROWS, refine

INFEASIBLE = 1e6  # the cost of a pair that cannot be one cone (any feasible cost is < 2)
refine_inline = inline(refine)


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
            size_error = abs(math.log(l_h / r_h))
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
        refine_inline(left, right, left_code, right_code, boxes, box_d, MAX_PATCH_ROWS,
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


match_costs_compiled = Kernel(match_costs, _match_signature)
locate_compiled = Kernel(locate, _locate_signature)
