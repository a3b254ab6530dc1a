"""The compiled host kernels (core/jit.py) and the plain Python they are compiled from give the
same results: without Numba the node runs that Python, slower but correct."""
import numpy as np

from yolo_stereo_trt.core import jit, postprocess, stereo_kernel
from yolo_stereo_trt.core.stereo import StereoConfig
from yolo_stereo_trt.data.synthetic import render_pair


def test_numba_is_installed_so_the_kernels_are_compiled():
    assert jit.AVAILABLE and jit.warm_up() == []


def test_a_kernel_that_numba_cannot_compile_runs_as_plain_python_and_says_why():
    def add_names(a, b):
        return a + b  # strings: no such signature in Numba's nopython mode
    kernel = jit.Kernel(add_names, lambda t: t.int64(t.int64, t.int64))
    kernel.signature = lambda t: t.unicode_type(t.pyobject, t.pyobject)
    try:
        assert kernel("left", "right") == "leftright"
        assert "add_names" in kernel.error
        assert jit.warm_up() == [kernel.error]
    finally:
        jit._KERNELS.remove(kernel)


def test_the_refinement_kernel_as_plain_python_equals_the_compiled_one():
    """Box pairs' windows and wide search windows, rows searched: the same outcome, disparity,
    row offset, peak and margin."""
    scene = render_pair(107)
    boxes = scene.visible_left[:8].astype(np.float64)
    disparity = ((scene.visible_left[:8, 0] + scene.visible_left[:8, 2]) / 2
                 - (scene.visible_right[:8, 0] + scene.visible_right[:8, 2]) / 2).astype(float)
    lo = np.r_[disparity[:4] - 8, disparity[4:] / 1.6 - 1.5]
    hi = np.r_[disparity[:4] + 8, disparity[4:] * 1.6 + 1.5]
    config = StereoConfig()
    results = []
    for fn in (stereo_kernel.refine_compiled, stereo_kernel.refine_compiled.py_func):
        out = (np.zeros(8, np.int8), disparity.copy(), np.full(8, np.nan),
               np.zeros(8, np.float32), np.zeros(8, np.float32), np.zeros(8, np.float32))
        fn(scene.left, scene.right, stereo_kernel.BGR, stereo_kernel.BGR, boxes, lo, hi,
           stereo_kernel.MAX_PATCH_ROWS, config.row_search_px, config.min_texture, *out)
        results.append(out)
    assert (results[0][0] == stereo_kernel.ACCEPTED).sum() >= 4
    np.testing.assert_array_equal(results[0][0], results[1][0])
    for a, b in zip(results[0][1:], results[1][1:]):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_the_matching_and_locate_kernels_as_plain_python_equal_the_compiled_ones():
    """Also with NaN and infinite boxes (never feasible, no exception in either), a size prior
    on some boxes, searched cones and boxes at the borders."""
    scene = render_pair(108)
    rng = np.random.default_rng(5)
    left = (scene.visible_left + rng.normal(0, 1, scene.visible_left.shape)).astype(np.float32)
    right = (scene.visible_right + rng.normal(0, 1, scene.visible_right.shape)).astype(np.float32)
    left[0, 3], right[1, 2], right[2, 3] = np.nan, np.inf, np.inf
    left[3, 0] = right[3, 0] = 0.0  # cut by the left border
    classes = np.zeros(len(left), np.int64)
    n_left = len(left)
    prior_lo, prior_hi = np.full(n_left, -np.inf), np.full(n_left, np.inf)
    prior_c, prior_s = np.zeros(n_left), np.full(n_left, np.inf)
    prior_lo[::2], prior_hi[::2], prior_c[::2], prior_s[::2] = 3.0, 30.0, 10.0, 2.0
    costs = []
    for fn in (stereo_kernel.match_costs_compiled, stereo_kernel.match_costs_compiled.py_func):
        cost, disparity = np.empty((n_left, len(right))), np.empty((n_left, len(right)))
        fn(left, right, classes, classes[:len(right)], prior_lo, prior_hi, prior_c, prior_s,
           2.0, 90.0, 3.0, np.log(1.5), 1280.0, cost, disparity)
        costs.append((cost, disparity))
    np.testing.assert_allclose(costs[0][0], costs[1][0], rtol=1e-12)
    np.testing.assert_allclose(costs[0][1], costs[1][1], rtol=1e-12)
    feasible = costs[0][0] < stereo_kernel.INFEASIBLE
    assert not feasible[0].any() and not feasible[:, 1:3].any() and feasible.sum() > 5
    assert (costs[0][0] == stereo_kernel.IMPLAUSIBLE).any()
    li, ri = np.nonzero(feasible)
    flags = []
    for fn in (stereo_kernel.ambiguous_compiled, stereo_kernel.ambiguous_compiled.py_func):
        out = np.empty(li.size, bool)
        fn(costs[0][0], costs[0][1], li.astype(np.int64), ri.astype(np.int64), 1.0,
           np.isfinite(prior_s), out)
        flags.append(out)
    np.testing.assert_array_equal(flags[0], flags[1])
    li, ri = np.r_[li, [4, 5]].astype(np.int64), np.r_[ri, [-1, -1]].astype(np.int64)  # searches
    n = li.size
    results = []
    for fn in (stereo_kernel.locate_compiled, stereo_kernel.locate_compiled.py_func):
        out = (np.empty((n, 3), np.float32), np.empty((n, 3, 3), np.float32),
               np.empty(n, np.float32), np.empty(n, np.float32), np.empty(n, np.float32),
               np.empty(n, np.uint8), np.empty(n, bool), np.empty(n, bool),
               np.empty(n, np.float32), np.empty(n, np.float32), np.empty(n, np.float32),
               np.empty(n, np.float32), np.empty(n, np.float32))
        fn(scene.left, scene.right, stereo_kernel.BGR, stereo_kernel.BGR, left, right, li, ri,
           np.full(n, 2.0), np.full(n, 60.0), np.tile([0.228, 0.325], (n, 1)),
           np.linspace(0.3, 0.95, n),
           (700.0, 700.0, 640.0, 360.0, 84.0, 1.5, 0.01), (1280.0, 720.0), (2.0, 90.0), True,
           stereo_kernel.MAX_PATCH_ROWS, 4, (4.0, 0.6, 0.7, 0.1), StereoConfig().sigmas(), *out)
        results.append(out)
    assert results[0][6].sum() > 3 and (results[0][5] == stereo_kernel.BORDER_CUT).any()
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_the_decode_and_nms_kernels_as_plain_python_equal_the_compiled_ones():
    from yolo_stereo_trt.core.preprocess import LetterboxGeometry
    rng = np.random.default_rng(3)
    output = rng.uniform(0, 1, (2, 9, 300)).astype(np.float32)
    output[:, :2] *= 600
    output[:, 2:4] = output[:, 2:4] * 60 + 5
    thresholds = np.array([0.5, 0.6, 0.7, 0.8, 0.9], np.float32)
    scale = postprocess._scale_rows([LetterboxGeometry.compute((720, 1280), (640, 640))] * 2)
    for agnostic in (False, True):
        got = []
        for f in (postprocess._decode_raw_compiled, postprocess._decode_raw_images):
            outputs = (np.empty(2, np.int64), np.empty((20, 4), np.float32),
                       np.empty(20, np.float32), np.empty(20, np.int64))
            total = f(output, 2, thresholds, agnostic, 0.3, 10, scale, *outputs)
            got.append((total, outputs[0], *(a[:total] for a in outputs[1:])))
        assert got[0][0] == got[1][0] == got[0][1].sum() > 5
        for a, b in zip(got[0][1:], got[1][1:]):
            np.testing.assert_array_equal(a, b)
    boxes = output[0, :4].T.copy()
    boxes[:, 2:] += boxes[:, :2]
    groups = (np.arange(300) % 2).astype(np.int64)
    keeps = []
    for f in (postprocess._greedy_nms_compiled, jit.python(postprocess._greedy_nms)):
        keep = np.zeros(len(boxes), bool)
        f(boxes, groups, 0.3, 10, keep)
        keeps.append(keep)
    np.testing.assert_array_equal(keeps[0], keeps[1])
    assert 0 < keeps[0].sum() < len(boxes)


def test_refinement_refuses_frames_the_kernel_could_read_past():
    """The kernel does not bounds-check: frames of two sizes, 4 channels or float are refused."""
    import pytest
    from yolo_stereo_trt.core.stereo import refine_disparity
    frame = np.zeros((100, 200, 3), np.uint8)
    boxes, d = np.array([[50.0, 20, 90, 80]]), np.array([10.0])
    for left, right in ((frame, frame[:, :150]), (frame, np.zeros((100, 200, 4), np.uint8)),
                        (frame.astype(np.float32), frame)):
        with pytest.raises(ValueError, match="refinement needs two uint8 frames"):
            refine_disparity(left, right, boxes, d, StereoConfig())
    assert refine_disparity(frame[..., 0], frame, boxes, d, StereoConfig())[0].shape == (1,)


def test_the_first_start_says_it_compiles_and_where_it_caches_and_the_second_loads_the_cache(
        tmp_path, monkeypatch):
    """A kernel in a fresh source file: the first prepare logs a line before compiling and
    reports the compile; a new process (here: a new Kernel of the same file) finds it in Numba's
    on-disk cache beside the source and says it loaded it, with no 'compiling' line."""
    import importlib.util
    source = tmp_path / "fresh_kernel.py"
    source.write_text("from yolo_stereo_trt.core.jit import Kernel\n\n\n"
                      "def twice(x):\n    return 2 * x\n\n\n"
                      "TWICE = Kernel(twice, lambda t: t.int64(t.int64))\n")
    jit.warm_up()  # the package's own kernels: compiled or loaded already

    def load(name):
        spec = importlib.util.spec_from_file_location(name, source)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.TWICE
    first = load("fresh_kernel_a")
    try:
        lines: list[str] = []
        assert first.cache_state() == (False, str(tmp_path / "__pycache__"))
        summary = jit.prepare(lines.append)
        assert len(lines) == 1 and "compiling 1 of" in lines[0] and "first start" in lines[0]
        assert str(tmp_path / "__pycache__") in lines[0]
        assert "compiled in" in summary and first(21) == 42
        second = load("fresh_kernel_b")
        try:
            assert second.cache_state()[0]
            lines.clear()
            summary = jit.prepare(lines.append)
            assert lines == [] and "loaded from the cache" in summary and second(4) == 8
        finally:
            jit._KERNELS.remove(second)
    finally:
        jit._KERNELS.remove(first)
