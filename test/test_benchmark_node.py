"""benchmark_node: a short real run (the node and the relay over DDS), as CI's smoke test.

No timing is asserted: only that pairs came back from both processes and that the report has
what docs/results.md and the team read off it.
"""
import json
import subprocess
import sys

import onnx
import pytest

CMD = [sys.executable, "-m", "yolo_stereo_trt.tools.benchmark_node"]


@pytest.fixture(scope="module")
def standin_model(tmp_path_factory):
    from yolo_stereo_trt.data.standin_model import build_demo_model
    path = tmp_path_factory.mktemp("bench") / "standin.onnx"
    onnx.save(build_demo_model((640, 640), 2), str(path))
    return path


def test_benchmark_node_reports_the_node_against_the_relay(standin_model):
    run = subprocess.run(CMD + ["--model", str(standin_model), "--seconds", "3", "--warmup", "1",
                                "--hz", "10", "--json"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout)
    assert set(report) == {"config", "node", "relay", "ratios"}
    for name in ("node", "relay"):
        r = report[name]
        # 30 sent in 3 s at 10 Hz; how many a loaded machine's reader keeps is not the point
        assert r["pairs_in"] >= 5 and 0 < r["pairs_out"] <= r["pairs_in"], (name, r)
        assert set(r["latency_ms"]) == {"p50", "p90", "p99"}
        assert r["latency_ms"]["p50"] > 0 and r["cpu_ms_per_pair"] > 0
    threads = report["node"]["cpu_ms_per_pair_by_thread"]  # the node's threads by their names
    assert {"executor (main thread)", "inputs", "worker (+ OpenCV pool)"} <= set(threads)
    assert threads["inputs"] > 0 and threads["worker (+ OpenCV pool)"] > 0
    assert "inputs" not in report["relay"]["cpu_ms_per_pair_by_thread"]
    stages = report["node"]["stages_ms_p50"]
    assert set(stages) == {"convert", "preprocess", "inference", "decode", "stereo", "publish",
                           "total"}
    assert report["node"]["host_ms_p50"] == pytest.approx(stages["total"] - stages["inference"],
                                                          abs=1e-3)
    assert report["node"]["diagnostics"]["backend"] == "onnxruntime"
    assert set(report["ratios"]) == {"latency_p50", "latency_p90", "latency_p99", "cpu_per_pair"}
    assert report["config"]["transports"].startswith(("FASTDDS_BUILTIN_TRANSPORTS", "profile",
                                                      "shared-memory"))


@pytest.mark.parametrize("args,message", [
    ([], "--model is required"),
    (["--model", "/nonexistent.onnx"], "not found"),
    (["--model", "{model}", "--size", "1280"], "WIDTHxHEIGHT"),
    (["--model", "{model}", "--hz", "0"], "--hz"),
    (["--model", "{model}", "--node-param", "ort_threads"], "NAME:=VALUE"),
    (["--model", "{model}", "--startup-timeout", "-5"], "--startup-timeout"),
    (["--model", "{model}", "--domain-id", "300"], "0-232"),
])
def test_benchmark_node_refuses_bad_arguments_with_its_usage_and_one_line(standin_model, args,
                                                                          message):
    """As every tool (docs/tools.md): the usage, then one error line, exit 2 (it printed the
    line alone, and judged the model before the other arguments)."""
    args = [a.format(model=standin_model) for a in args]
    run = subprocess.run(CMD + args, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert lines[0].startswith("usage: benchmark_node")
    assert lines[-1].startswith("benchmark_node: error: ") and message in lines[-1]
    assert sum(line.startswith("benchmark_node:") for line in lines) == 1


def test_constant_standin_replays_the_recorded_output_whatever_the_input(tmp_path):
    """The nearly free model for host-side benchmarks: uint8 input, the recorded output back."""
    import numpy as np
    from yolo_stereo_trt.backends import load_backend
    from yolo_stereo_trt.data.standin_model import main as make_demo_model
    path = tmp_path / "constant.onnx"
    assert make_demo_model(["--constant-from", "models/yolo12n_synthetic_cones.onnx",
                            "--out", str(path)]) == 0
    backend = load_backend(path, "cpu")
    assert backend.input.layout == "nhwc_uint8" and backend.input.hw == (640, 640)
    assert backend.info.names == load_backend("models/yolo12n_synthetic_cones.onnx").info.names
    rng = np.random.default_rng(0)
    a = backend.infer(rng.integers(0, 255, (2, 640, 640, 3), dtype=np.uint8))
    b = backend.infer(np.zeros((2, 640, 640, 3), np.uint8))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (2, 9, 8400) and (a[:, 4:] > 0.25).sum() > 10  # real detections in it


def test_benchmark_node_fails_when_the_node_gives_nothing_back(tmp_path):
    """A model the node cannot load: no cones come back (or the node exits), exit code 1."""
    bad = tmp_path / "corrupt.onnx"
    bad.write_bytes(b"not an onnx model")
    run = subprocess.run(CMD + ["--model", str(bad), "--seconds", "1", "--warmup", "0",
                                "--startup-timeout", "40", "--json"],
                         capture_output=True, text=True, timeout=200)
    assert run.returncode == 1, (run.stdout[-2000:], run.stderr[-2000:])
