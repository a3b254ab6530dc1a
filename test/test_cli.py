"""The console scripts' shared argument types and user-error guard (core/cli.py): impossible
values are refused while the arguments are parsed, a user's mistake at run time ends in one
line and exit status 2, and a bug still shows its traceback."""
from __future__ import annotations

import argparse

import pytest

from yolo_stereo_trt.core.backend import ModelLoadError
from yolo_stereo_trt.core.cli import (fraction, guarded, output_file, output_folder,
                                      positive_float, positive_int)


@pytest.mark.parametrize("kind, text", [(positive_int, "0"), (positive_int, "-5"),
                                        (positive_int, "2.5"), (positive_float, "0"),
                                        (positive_float, "nan"), (fraction, "5"),
                                        (fraction, "-0.1"), (fraction, "x")])
def test_an_impossible_number_is_refused_at_parse_time(kind, text):
    with pytest.raises(argparse.ArgumentTypeError):
        kind(text)


def test_possible_numbers_pass_as_their_type():
    assert positive_int("3") == 3 and positive_float("0.5") == 0.5
    assert fraction("0") == 0.0 and fraction("1") == 1.0


def test_an_output_path_is_refused_before_the_work_where_it_cannot_be_written(tmp_path):
    a_file = tmp_path / "f.txt"
    a_file.write_text("x")
    assert output_file(str(tmp_path / "out.json")) == tmp_path / "out.json"
    for bad in (str(tmp_path / "missing" / "out.json"), str(tmp_path)):
        with pytest.raises(argparse.ArgumentTypeError):
            output_file(bad)
    assert output_folder(str(tmp_path / "new")) == tmp_path / "new"  # made later by the tool
    for bad in (str(a_file), str(tmp_path / "missing" / "new")):
        with pytest.raises(argparse.ArgumentTypeError):
            output_folder(bad)


def test_the_guard_turns_a_users_mistake_into_one_line_and_exit_2_and_lets_a_bug_through(capsys):
    @guarded("tool")
    def fails_with(exc: BaseException) -> int:
        raise exc

    assert fails_with(FileNotFoundError("x.onnx: no such\nfile")) == 2
    assert capsys.readouterr().err == "tool: error: x.onnx: no such file\n"
    assert fails_with(ModelLoadError("model file not found: x.onnx")) == 2
    assert capsys.readouterr().err == "tool: error: model file not found: x.onnx\n"
    with pytest.raises(KeyError):
        fails_with(KeyError("a bug"))


def test_a_tool_given_a_missing_model_says_so_in_one_line_with_exit_2(capsys):
    from yolo_stereo_trt.tools.benchmark_host import main
    assert main(["--model", "nope.onnx", "--runs", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "benchmark_host: error: model file not found: nope.onnx"
