"""The track-test plots (data/plots.py): the per-bucket figures are right, each figure carries
its axes and title, the PNG files are written. Pixels are not compared. matplotlib is in
requirements.txt (the test venv); at run time it is optional (test_evaluate_bag checks the
message when it is missing)."""
import numpy as np
import pytest

from yolo_stereo_trt.data.plots import bag_figures, depth_error_figure, range_buckets, write_figures


def labels(fig) -> list[tuple[str, str, str]]:
    return [(ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes]


def test_range_buckets_count_yield_and_error_per_5_m_to_30_m():
    depths = np.array([1.0, 2.0, 4.9, 6.0, 7.0, 12.0, 29.9, 31.0])
    errors = np.array([0.1, -0.3, np.nan, 0.2, 0.4, np.nan, -1.0, 5.0])
    b = range_buckets(depths, errors)
    np.testing.assert_array_equal(b["lo"], [0, 5, 10, 15, 20, 25])
    np.testing.assert_array_equal(b["cones"], [3, 2, 1, 0, 0, 1])  # 31 m is beyond the plot
    np.testing.assert_array_equal(b["located"], [2, 2, 0, 0, 0, 1])
    np.testing.assert_allclose(b["yield"], [2 / 3, 1, 0, np.nan, np.nan, 1])
    np.testing.assert_allclose(b["median"], [0.2, 0.3, np.nan, np.nan, np.nan, 1.0])  # |error|
    with pytest.raises(ValueError, match="differ"):
        range_buckets(depths, errors[:3])


def test_depth_error_figure_for_stereo_accuracy_takes_plain_arrays_per_series():
    rng = np.random.default_rng(1)
    z = rng.uniform(1, 30, 200)
    series = {"gt boxes, refined": (z, 0.01 * z * rng.standard_normal(200)),
              "model, refined": (z, np.where(z > 20, np.nan, 0.02 * z))}
    fig = depth_error_figure(series, error_label="depth error (% of range)",
                             title="Stereo accuracy")
    top, bottom = fig.axes
    assert labels(fig) == [("Stereo accuracy", "", "depth error (% of range)"),
                           ("", "true range (m)", "stereo yield (% located)")]
    assert [t.get_text() for t in top.get_legend().get_texts()] == [
        "gt boxes, refined: median |error|", "gt boxes, refined: p90 |error|",
        "model, refined: median |error|", "model, refined: p90 |error|"]
    assert len(bottom.patches) == 2 * 6  # one yield bar per series and bucket
    assert bottom.get_xlim() == (0.0, 30.0)


def test_depth_error_figure_draws_wrong_pairings_on_the_edge_and_counts_them():
    z = np.linspace(1.0, 29.0, 100)
    errors = np.where(np.arange(100) % 2 == 0, 1.0, -1.0)  # p90 of |error| = 1 in every bucket
    errors[[10, 60]] = [137.0, -90.0]  # two wrong pairings
    fig = depth_error_figure({"model, refined": (z, errors)}, title="Stereo accuracy")
    top = fig.axes[0]
    lo, hi = top.get_ylim()
    assert (lo, hi) == pytest.approx((-3.0, 3.0))  # three times the largest p90, not 137
    assert "2 beyond +-3" in top.get_title()
    edge = [c.get_offsets() for c in top.collections if len(c.get_offsets())]
    marked = np.concatenate(edge)[:, 1]
    assert np.isclose(marked, 3.0 * 0.97).sum() == 1 and np.isclose(marked, -3.0 * 0.97).sum() == 1


def test_bag_figures_name_their_axes_and_the_files_are_written(tmp_path):
    rows = [{"bag_time_ns": 10**9 + k * 10**8, "status": "ok" if k != 2 else "bad_encoding",
             "det_left": 10 + k, "det_right": 9 + k, "cones": 7 + k if k != 2 else "",
             "rejected_ground": 1, "rejected_size": "", "stale_so_far": k // 3}
            for k in range(6)]
    latency = {"inference": [200.0, 210.0, 250.0], "stereo": [0.5, 0.6, 0.4], "write": []}
    per_class = {"left": {"blue_cone": 30, "yellow_cone": 28}, "right": {"blue_cone": 29},
                 "cones": {"blue_cone": 25, "yellow_cone": 20}}
    depth = (np.array([3.0, 8.0, 14.0, 22.0]), np.array([0.02, -0.05, np.nan, 0.6]))
    figures = bag_figures(rows, latency, per_class, depth, bag="track.mcap")
    assert list(figures) == ["depth_error_vs_range.png", "cones_per_frame.png",
                             "latency_per_stage.png", "detections_per_class.png"]
    timeline = figures["cones_per_frame.png"]
    assert labels(timeline) == [("Cones per frame over the bag: track.mcap", "", "per frame"),
                                ("", "bag time (s)", "count so far")]
    legend = [t.get_text() for t in timeline.axes[1].get_legend().get_texts()]
    assert legend == ["stale pairs dropped (1)", "pairs failed (1)",
                      "cones rejected by the gates (6)"]
    latency_fig = figures["latency_per_stage.png"]
    assert labels(latency_fig) == [("Latency per stage (6 pairs): track.mcap",
                                    "time per pair (ms)", "")]
    ticks = [t.get_text() for t in latency_fig.axes[0].get_yticklabels()]
    assert ticks == ["inference\np50 210 ms", "stereo\np50 0.5 ms"]  # no samples: left out
    classes = figures["detections_per_class.png"]
    assert labels(classes) == [("Detections per class: track.mcap", "class",
                                "count over the bag")]
    assert [t.get_text() for t in classes.axes[0].get_xticklabels()] == ["blue", "yellow"]
    assert labels(figures["depth_error_vs_range.png"])[0][2] == "depth error z - z_true (m)"
    paths = write_figures(figures, tmp_path / "plots")
    assert [p.name for p in paths] == list(figures)
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)
    # without ground truth there is no depth plot
    assert "depth_error_vs_range.png" not in bag_figures(rows, latency, per_class, None)
