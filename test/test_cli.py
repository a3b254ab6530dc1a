"""The console scripts' shared argument types and user-error guard (core/cli.py): impossible
values are refused while the arguments are parsed, a user's mistake at run time ends in one
line and exit status 2, and a bug still shows its traceback."""
from __future__ import annotations

import argparse

import pytest

from yolo_stereo_trt.core.backend import ModelLoadError
from yolo_stereo_trt.core.cli import (fraction, guarded, non_negative_float,
                                      non_negative_int, output_file, output_folder,
                                      output_prefix, positive_float, positive_int,
                                      prepare_output)


@pytest.mark.parametrize("kind, text", [(positive_int, "0"), (positive_int, "-5"),
                                        (positive_int, "2.5"), (positive_float, "0"),
                                        (positive_float, "nan"), (positive_float, "inf"),
                                        (fraction, "5"),
                                        (fraction, "-0.1"), (fraction, "x")])
def test_an_impossible_number_is_refused_at_parse_time(kind, text):
    with pytest.raises(argparse.ArgumentTypeError):
        kind(text)


def test_possible_numbers_pass_as_their_type():
    assert positive_int("3") == 3 and positive_float("0.5") == 0.5
    assert fraction("0") == 0.0 and fraction("1") == 1.0
    assert non_negative_int("0") == 0 and non_negative_float("0") == 0.0
    for kind, text in ((non_negative_int, "-1"), (non_negative_float, "-0.5"),
                       (non_negative_float, "nan")):
        with pytest.raises(argparse.ArgumentTypeError):
            kind(text)


def test_an_output_path_is_refused_before_the_work_where_it_cannot_be_written(tmp_path):
    """Missing folders are fine (the tools make them: data/synth on a fresh checkout); a file
    where a folder must be, a folder where the file must be, or a file above is not."""
    a_file = tmp_path / "f.txt"
    a_file.write_text("x")
    for good in (tmp_path / "out.json", tmp_path / "new" / "deeper" / "out.json"):
        assert output_file(str(good)) == good
    for bad in (tmp_path, a_file / "out.json"):
        with pytest.raises(argparse.ArgumentTypeError):
            output_file(str(bad))
    for good in (tmp_path / "new", tmp_path / "new" / "deeper", tmp_path):
        assert output_folder(str(good)) == good
    for bad in (a_file, a_file / "new"):
        with pytest.raises(argparse.ArgumentTypeError):
            output_folder(str(bad))
    assert output_prefix(str(tmp_path)) == tmp_path  # tmp_path.md, tmp_path.json
    with pytest.raises(argparse.ArgumentTypeError):
        output_prefix(str(a_file / "report"))
    made = prepare_output(tmp_path / "a" / "b" / "out.json")
    assert made.parent.is_dir() and not made.exists()


def test_the_guard_turns_a_users_mistake_into_one_line_and_exit_2_and_lets_a_bug_through(capsys):
    """A user's mistake: one line and exit 2; Ctrl-C: 'interrupted' and exit 130; a bug: its
    traceback."""
    @guarded("tool")
    def fails_with(exc: BaseException) -> int:
        raise exc

    assert fails_with(FileNotFoundError("x.onnx: no such\nfile")) == 2
    assert capsys.readouterr().err == "tool: error: x.onnx: no such file\n"
    assert fails_with(ModelLoadError("model file not found: x.onnx")) == 2
    assert capsys.readouterr().err == "tool: error: model file not found: x.onnx\n"
    with pytest.raises(KeyError):
        fails_with(KeyError("a bug"))
    assert fails_with(KeyboardInterrupt()) == 130  # Ctrl-C: one line, no traceback
    assert capsys.readouterr().err == "tool: interrupted\n"


def test_a_tool_given_a_missing_model_says_so_in_one_line_with_exit_2(capsys):
    from yolo_stereo_trt.tools.benchmark_host import main
    assert main(["--model", "nope.onnx", "--runs", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "benchmark_host: error: model file not found: nope.onnx"


@pytest.mark.parametrize("tool, argv, said", [
    ("evaluate", ["--model", "m.onnx", "--data", "d", "--conf", "5"], "--conf: must be in [0, 1]"),
    ("benchmark", ["--models", "m.onnx", "--device", "gpu"], "--device: invalid choice"),
    ("benchmark_host", ["--runs", "0"], "--runs: must be a positive integer"),
    ("make_synthetic", ["--out", "x", "--baseline", "-1"], "--baseline: must be a positive"),
    ("make_synthetic", ["--out", "x", "--randomize-strength", "5"], "must be in [0, 1]"),
    ("play_bag", ["bag", "--rate", "0"], "--rate: must be a positive number"),
    ("quantize", ["--calib-max", "0", "--onnx", "m.onnx", "--calib", "c", "--out", "o.onnx"],
     "--calib-max: must be a positive integer"),
    ("quantize", ["--onnx", "m.txt", "--calib", "c", "--out", "o.onnx"],
     "m.txt is not a .onnx file"),
    ("quantize", ["--out", "q.engine", "--onnx", "m.onnx", "--calib", "c"],
     "q.engine: the file is written as .onnx"),
    ("benchmark", ["--models", "m.onnx", "--warmup", "-1"], "--warmup: must be 0 or more"),
    ("benchmark_host", ["--cones", "-1"], "--cones: must be 0 or more"),
    ("play_bag", ["bag", "--wait", "-1"], "--wait: must be 0 or more"),
    ("make_synthetic", ["--out", "x", "--hfov", "200"], "--hfov: must be 20-170 degrees"),
    ("check_stereo_rig", ["bag", "--model", "m.onnx", "--plot", "rig.txt"],
     "rig.txt: the file is written as .png"),
    ("stereo_accuracy", ["--pairs", "0"], "--pairs: must be a positive integer"),
    ("stereo_accuracy", ["--randomize", "fog"], "unknown randomization switch 'fog'"),
    ("stereo_accuracy", ["--randomize-strength", "0.5"], "--randomize-strength needs --randomize"),
    ("evaluate_bag", ["bag", "--model", "m", "--out", "A_FILE"], "A_FILE exists and is not"),
    ("evaluate_bag", ["bag", "--model", "m", "--out", "x", "--device", "gpu"],
     "--device: invalid choice"),
    ("evaluate_bag", ["bag", "--model", "m", "--out", "x", "--duration", "0"],
     "--duration: must be a positive number"),
    ("demo", ["--out", "A_FILE"], "A_FILE exists and is not a folder"),
    ("demo", ["--frames", "0"], "--frames: must be a positive integer"),
    ("build_engine", ["--onnx", "m.onnx", "--out", "m.engine", "--batch", "0"],
     "--batch: must be a positive integer"),
    ("build_engine", ["--onnx", "m.onnx", "--out", "m.engine", "--calib-max", "-3"],
     "--calib-max: must be a positive integer"),
    ("build_engine", ["--onnx", "m.onnx", "--out", "m.engine", "--workspace", "-1"],
     "--workspace: must be a positive number"),
    ("build_engine", ["--onnx", "m.onnx", "--out", "."], "is a folder, not a file"),
])
def test_each_console_script_refuses_an_impossible_value_before_any_work(tool, argv, said,
                                                                          capsys, tmp_path,
                                                                          monkeypatch):
    import importlib
    monkeypatch.chdir(tmp_path)
    (tmp_path / "A_FILE").write_text("not a folder")
    main = importlib.import_module(f"yolo_stereo_trt.tools.{tool}").main
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2 and said in capsys.readouterr().err


@pytest.mark.parametrize("module, argv, said", [
    ("tools.trt_check", ["--onnx", "nope.onnx", "--calib", "nope"], "--onnx nope.onnx not found"),
    ("tools.evaluate_bag", ["nope", "--model", "m.onnx", "--out", "x"], "nope not found"),
    ("tools.detect_images", ["--left", "nope.png", "--right", "nope.png"], "nope.png"),
    ("data.standin_model", ["--constant-from", "nope.onnx"], "model file not found: nope.onnx"),
    ("tools.demo", ["--model", "nope.onnx", "--out", "out"], "model file not found: nope.onnx"),
])
def test_a_console_script_given_a_missing_input_says_so_in_one_line_with_exit_2(
        module, argv, said, capsys, tmp_path, monkeypatch):
    import importlib
    monkeypatch.chdir(tmp_path)
    assert importlib.import_module(f"yolo_stereo_trt.{module}").main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and said in err, err
    assert list(tmp_path.iterdir()) == []  # refused before any work: nothing written


def test_make_demo_model_refuses_an_input_size_the_stride_does_not_divide(capsys):
    from yolo_stereo_trt.data.standin_model import main
    with pytest.raises(SystemExit) as stop:
        main(["--imgsz", "641", "640", "--out", "never_written.onnx"])
    assert stop.value.code == 2
    assert "--imgsz: must be a multiple of 32, not 641" in capsys.readouterr().err


def test_make_demo_model_writes_only_a_file_named_onnx(tmp_path, capsys):
    """Its --out is written whole: a name that is not a model's (a typo, a system file) is
    refused before anything is overwritten."""
    from yolo_stereo_trt.data.standin_model import main
    precious = tmp_path / "passwd"
    precious.write_text("root:x:0:0\n")
    for name in (str(precious), str(tmp_path / "notes.txt")):
        with pytest.raises(SystemExit) as stop:
            main(["--out", name])
        assert stop.value.code == 2 and "must end in .onnx" in capsys.readouterr().err
    assert precious.read_text() == "root:x:0:0\n"


def test_ctrl_c_stops_make_synthetic_rendering_with_workers_at_once_and_leaves_no_bag(tmp_path):
    """Ctrl-C in a terminal signals the whole process group: the pool's workers died of it with
    their pairs, and the parent, waiting for those pairs without a timeout, hung for good. Now
    the workers leave SIGINT to the parent, which ends the pool, removes the half-written bag
    (a re-run refused it as existing) and dies of SIGINT itself (a calling script stops too)."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path
    tool = Path(sys.executable).parent / "make_synthetic"
    out_dir = tmp_path / "out"
    proc = subprocess.Popen([str(tool), "--out", str(out_dir), "--pairs", "200",
                             "--workers", "2", "--no-images", "--bag", "mcap"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # its own group, as a terminal's job
    try:
        deadline = time.monotonic() + 120
        while not list(out_dir.glob("*_mcap")) and time.monotonic() < deadline:
            time.sleep(0.2)  # rendering has begun (the bag is open)
        time.sleep(1.0)
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=60)  # a hang fails here
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == -signal.SIGINT, (proc.returncode, out)
    assert "make_synthetic: interrupted" in out and "Traceback" not in out, out
    assert "removed the unfinished bag(s)" in out and not list(out_dir.glob("*_mcap")), out
