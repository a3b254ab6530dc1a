"""Is the stereo rig still calibrated (core.rig, check_stereo_rig): the fit recovers what was
injected, the verdict follows the thresholds, references round-trip; and on synthetic drives of
the real detector and stereo stage, a knocked camera, a yawed one and a wrong baseline are each
measured and called out, while a clean drive against a reference from another is ok."""
import json
import re

import cv2
import numpy as np
import pytest

from yolo_stereo_trt.core.camera_info import camera_info_yaml
from yolo_stereo_trt.core.paths import demo_model_path
from yolo_stereo_trt.core.rig import (RigMonitor, RigReferenceError, RigSamples, RigThresholds,
                                      fit_rig, judge, load_reference, save_reference)
from yolo_stereo_trt.core.stereo import Cones
from yolo_stereo_trt.data.synthetic import render_pair

RNG = np.random.default_rng(24)


def synthetic_samples(n=300, scale=0.92, offset=0.5, rows=0.0, noise=0.05):
    d_size = RNG.uniform(2.5, 30, n)
    return scale * d_size + offset + RNG.normal(0, noise, n), d_size, rows + RNG.normal(0, 0.1, n)


def test_the_fit_recovers_the_scale_offset_and_vertical_offset_with_intervals_that_hold_them():
    fit = fit_rig(*synthetic_samples(scale=0.8, offset=2.0, rows=-1.5))
    assert fit.cones == 300
    assert fit.disparity_scale == pytest.approx(0.8, abs=0.005)
    assert fit.disparity_offset_px == pytest.approx(2.0, abs=0.05)
    assert fit.vertical_offset_px == pytest.approx(-1.5, abs=0.03)
    for name, truth in (("disparity_scale", 0.8), ("disparity_offset_px", 2.0),
                        ("vertical_offset_px", -1.5)):
        lo, hi = getattr(fit, f"{name}_ci")
        assert lo <= truth <= hi and hi - lo < 0.1, name
    assert fit_rig(*synthetic_samples(n=2)) is None


def test_outliers_do_not_move_the_theil_sen_line():
    d, d_size, rows = synthetic_samples()
    d[:30] = RNG.uniform(0, 40, 30)  # a tenth of wrong pairings, occlusions
    fit = fit_rig(d, d_size, rows)
    assert fit.disparity_scale == pytest.approx(0.92, abs=0.01)
    assert fit.disparity_offset_px == pytest.approx(0.5, abs=0.1)


def test_the_verdict_follows_the_thresholds_and_says_what_to_do():
    reference = fit_rig(*synthetic_samples())
    clean = judge(fit_rig(*synthetic_samples()), reference)
    assert clean.verdict == "ok" and not clean.reasons
    assert clean.depth_scale_vs_reference == pytest.approx(1.0, abs=0.01)
    warn = judge(fit_rig(*synthetic_samples(rows=1.3)), reference)
    assert warn.verdict == "warn" and re.search(r"1\.[23]\d px lower", warn.reasons[0])
    far = judge(fit_rig(*synthetic_samples(scale=0.92 / 1.15)), reference)
    assert far.verdict == "error" and far.depth_scale_vs_reference == pytest.approx(1.15, abs=0.01)
    assert "15 % too far" in far.reasons[0] and "baseline" in far.advice[0]
    shifted = judge(fit_rig(*synthetic_samples(offset=2.5)), reference, fx_baseline=76.8)
    assert shifted.verdict == "error"
    assert shifted.disparity_offset_vs_reference_px == pytest.approx(2.0, abs=0.05)
    assert re.search(r"2\.0\d px too large", shifted.reasons[0])
    assert re.search(r"15 m reads 10\.\d m", shifted.reasons[0])
    lonely = judge(fit_rig(*synthetic_samples(n=50, rows=3.0)), reference)
    assert lonely.verdict == "warn" and "only 50 matched cones" in lonely.reasons[0]
    no_ref = judge(fit_rig(*synthetic_samples(scale=0.5)), None)
    assert no_ref.verdict == "ok" and "no reference" in no_ref.reasons[0]
    assert no_ref.depth_scale_vs_reference is None


def test_thresholds_refuse_a_warning_above_its_error():
    with pytest.raises(ValueError, match="warn_scale < error_scale"):
        RigThresholds(warn_scale=0.2, error_scale=0.1)


def test_a_reference_round_trips_and_a_bad_one_is_refused(tmp_path):
    fit = fit_rig(*synthetic_samples())
    path = save_reference(fit, tmp_path / "ref.json", "a clean drive")
    assert load_reference(path) == fit
    assert json.loads(path.read_text())["note"] == "a clean drive"
    (tmp_path / "bad.json").write_text('{"fit": {"cones": 3}}')
    with pytest.raises(RigReferenceError, match="cannot use .*bad.json"):
        load_reference(tmp_path / "bad.json")


def test_samples_keep_the_latest_window_of_refined_box_pairs_only():
    from yolo_stereo_trt.core.stereo import StereoCamera
    camera = StereoCamera(640, 640, 640, 360, 0.12, 1280, 720, doffs=2.0)
    n = 8
    cones = Cones(xyz=np.zeros((n, 3), np.float32), class_ids=np.zeros(n, np.int64),
                  disparity=np.arange(n, dtype=np.float32) + 10, refined=np.arange(n) != 1,
                  source=np.array([0, 0, 1, 2, 0, 0, 0, 0], np.uint8),
                  row_offset=np.where(np.arange(n) == 4, np.nan, 0.5).astype(np.float32),
                  size_disparity=np.where(np.arange(n) == 5, np.nan, 9.0).astype(np.float32))
    samples = RigSamples(window=3)
    samples.add(cones, camera)  # usable: 0, 6, 7 (1 unrefined, 2 searched, 3 cut, 4, 5 NaN)
    np.testing.assert_array_equal(np.sort(samples.data[:samples.filled, 0]), [8.0, 14.0, 15.0])
    one = Cones(xyz=np.zeros((1, 3), np.float32), class_ids=np.zeros(1, np.int64),
                disparity=np.array([30.0], np.float32), refined=np.ones(1, bool),
                source=np.zeros(1, np.uint8), row_offset=np.zeros(1, np.float32),
                size_disparity=np.array([30.0], np.float32))
    samples.add(one, camera)  # the oldest goes
    assert samples.filled == 3 and sorted(samples.data[:, 0]) == [14.0, 15.0, 28.0]


def test_cones_all_of_one_size_give_no_scale_and_against_a_reference_a_warning_not_ok():
    d, d_size, rows = synthetic_samples()
    parked = fit_rig(d, np.full_like(d_size, 12.0), rows)  # a parked car: one cone, many frames
    assert parked.cones == 300 and np.isnan(parked.disparity_scale)
    assert parked.vertical_offset_px == pytest.approx(0.0, abs=0.05)  # still measured
    verdict = judge(parked, fit_rig(d, d_size, rows))
    assert verdict.verdict == "warn" and "cannot be fitted" in verdict.reasons[0]
    assert judge(parked, None).verdict == "ok"  # the vertical offset alone: fine


def test_a_reference_without_a_scale_is_refused(tmp_path):
    d, d_size, rows = synthetic_samples()
    path = save_reference(fit_rig(d, np.full_like(d_size, 12.0), rows), tmp_path / "ref.json")
    with pytest.raises(RigReferenceError, match="not a fit"):
        load_reference(path)


def test_a_whole_bag_of_cones_is_fitted_on_a_bounded_sample():
    # Theil-Sen over 50000 cones would need about 60 GB; the slope takes 1000 evenly spaced
    fit = fit_rig(*synthetic_samples(n=50000, scale=0.8, offset=2.0))
    assert fit.cones == 50000
    assert fit.disparity_scale == pytest.approx(0.8, abs=0.005)
    assert fit.disparity_offset_px == pytest.approx(2.0, abs=0.05)


def test_the_monitor_starts_afresh_when_the_calibration_changes():
    import dataclasses
    scene = render_pair(700)
    cones = Cones(xyz=np.zeros((2, 3), np.float32), class_ids=np.zeros(2, np.int64),
                  disparity=np.array([10.0, 20.0], np.float32), refined=np.ones(2, bool),
                  source=np.zeros(2, np.uint8), row_offset=np.zeros(2, np.float32),
                  size_disparity=np.array([10.0, 20.0], np.float32))
    monitor = RigMonitor(RigThresholds(min_cones=3))
    monitor.add(cones, scene.camera)
    monitor.add(cones, scene.camera)
    assert monitor.samples.filled == 4
    monitor.add(cones, dataclasses.replace(scene.camera, baseline=0.2))
    assert monitor.samples.filled == 2


def test_the_monitor_refits_at_most_once_a_period():
    monitor = RigMonitor(RigThresholds(min_cones=10), period_s=1.0)
    d, d_size, rows = synthetic_samples(n=40)
    monitor.samples.data[:40], monitor.samples.filled = np.stack([d, d_size, rows], 1), 40
    assert monitor.status(now=100.0)[0] == 0
    monitor.samples.data[:40, 2] = 3.0  # the rig is knocked: seen at the next fit only
    assert monitor.status(now=100.5)[0] == 0
    level, message, values = monitor.status(now=101.1)
    assert level == 2 and "3.00 px lower" in message and values["cones"] == 40


# --- check_stereo_rig on synthetic drives (the shipped model, 10 pairs each) -----------------

def write_drive(folder, seed, row_offset=None, shift_px=0, baseline_factor=1.0):
    """A folder drive: left/ and right/ images and the camera_info YAMLs; ``shift_px`` moves the
    right image's content left (every disparity that much larger: a yaw), ``baseline_factor``
    scales the baseline camera_info states (not the one the pairs were rendered with)."""
    import dataclasses
    (folder / "left").mkdir(parents=True)
    (folder / "right").mkdir()
    for k in range(10):
        scene = render_pair(seed + k, row_offset=row_offset)
        right = scene.right
        if shift_px:
            right = np.full_like(scene.right, 114)
            right[:, :-shift_px] = scene.right[:, shift_px:]
        fast = [cv2.IMWRITE_PNG_COMPRESSION, 1]
        cv2.imwrite(str(folder / "left" / f"{k:03d}.png"), scene.left, fast)
        cv2.imwrite(str(folder / "right" / f"{k:03d}.png"), right, fast)
    camera = dataclasses.replace(scene.camera, baseline=scene.camera.baseline * baseline_factor)
    for side in ("left", "right"):
        (folder / f"{side}.yaml").write_text(camera_info_yaml(camera, side))
    return folder


def check(folder, *extra):
    """check_stereo_rig's JSON report on a drive; its exit status says error (1) or not (0)."""
    from yolo_stereo_trt.tools.check_stereo_rig import main
    out = folder.parent / f"{folder.name}_report.json"
    rc = main([str(folder), "--model", str(demo_model_path()), "--left-info",
               str(folder / "left.yaml"), "--right-info", str(folder / "right.yaml"), "--json",
               str(out), "--no-progress", *extra])
    result = json.loads(out.read_text())
    assert rc == (1 if result["verdict"] == "error" else 0), (rc, result["verdict"])
    return result


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("rig")
    drive = write_drive(root / "reference", 820000)
    result = check(drive, "--save-reference", str(root / "reference.json"))
    assert result["cones"] >= 100
    return root / "reference.json"


@pytest.mark.parametrize("name, kwargs, figure, expected, tolerance", [
    ("clean", {}, "disparity_offset_vs_reference_px", 0.0, 0.4),
    ("knocked_3px_down", {"row_offset": 3.0}, "vertical_offset_px", 3.0, 0.5),
    ("yawed_2px", {"shift_px": 2}, "disparity_offset_vs_reference_px", 2.0, 0.5),
    ("baseline_15pct_too_large", {"baseline_factor": 1.15}, "depth_scale_vs_reference", 1.15,
     0.05)])
def test_check_stereo_rig_measures_each_fault_against_a_reference_and_judges_it(
        reference, tmp_path, name, kwargs, figure, expected, tolerance):
    plot = tmp_path / f"{name}.png"
    result = check(write_drive(tmp_path / name, 830000, **kwargs), "--reference", str(reference),
                   "--plot", str(plot))
    assert result["cones"] >= 100
    assert cv2.imread(str(plot)).shape[0] > 200  # the plot was drawn
    assert abs(result[figure] - expected) <= tolerance, result
    if name == "clean":
        assert result["verdict"] == "ok", result
        assert abs(result["vertical_offset_px"]) <= 0.3
        assert abs(result["depth_scale_vs_reference"] - 1) <= 0.03
    else:
        assert result["verdict"] != "ok" and result["reasons"] and result["advice"], result
    for key in ("vertical_offset_px", "disparity_scale", "disparity_offset_px",
                "depth_scale_vs_reference", "disparity_offset_vs_reference_px", "verdict",
                "reasons", "advice", "cones", "vertical_offset_px_ci95"):
        assert key in result


def test_check_stereo_rig_refuses_a_folder_without_camera_info(tmp_path, capsys):
    from yolo_stereo_trt.tools.check_stereo_rig import main
    (tmp_path / "drive" / "left").mkdir(parents=True)
    assert main([str(tmp_path / "drive"), "--model", str(demo_model_path())]) == 2
    assert "needs --left-info and --right-info" in capsys.readouterr().err


def test_check_stereo_rig_needs_the_cars_model_and_refuses_an_output_that_is_a_folder_up_front(
        tmp_path, capsys):
    """The rig figures are read from the model's boxes: no silent default to the demo model. An
    output path it could not write (here: a folder) is refused while the arguments are parsed,
    not after the drive."""
    from yolo_stereo_trt.tools.check_stereo_rig import main
    (tmp_path / "drive" / "left").mkdir(parents=True)
    with pytest.raises(SystemExit) as exit_:
        main([str(tmp_path / "drive")])
    assert exit_.value.code == 2 and "--model" in capsys.readouterr().err
    for option in ("--json", "--save-reference", "--plot"):
        with pytest.raises(SystemExit) as exit_:
            main([str(tmp_path / "drive"), "--model", str(demo_model_path()), option,
                  str(tmp_path)])
        assert exit_.value.code == 2 and "is a folder" in capsys.readouterr().err


def test_check_stereo_rig_says_too_few_cones_not_no_reference_when_one_was_given(capsys):
    """A drive with a reference but under rig_min_cones matched cones has no figure against it:
    the report says why (it said "no --reference")."""
    from yolo_stereo_trt.core.rig import judge, report
    from yolo_stereo_trt.tools.check_stereo_rig import print_report
    rep = report(None, judge(None, None))
    print_report(rep, 3, reference=True, min_cones=100)
    lines = [x for x in capsys.readouterr().out.splitlines() if "vs_reference" in x]
    assert len(lines) == 2 and all("- (fewer than 100 matched cones)" in x for x in lines)
    print_report(rep, 3, reference=False, min_cones=100)
    assert capsys.readouterr().out.count("- (no --reference)") == 2
    rep["cones"] = 250  # enough cones, but of one size: no scale (its reason is printed)
    print_report(rep, 3, reference=True, min_cones=100)
    assert capsys.readouterr().out.count("- (the scale could not be fitted") == 2
