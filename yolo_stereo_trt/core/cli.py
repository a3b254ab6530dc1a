"""What the console scripts share: argparse types that refuse an impossible value while the
arguments are parsed (argparse's usage line and one error line, exit status 2), and a guard
that turns the errors a user causes at run time (a file that is missing, unreadable or not
what it should be, a model that does not load, an output path that cannot be written) into one
line on stderr and exit status 2 instead of a traceback.
"""
from __future__ import annotations

import argparse
import functools
import math
import os
import sys
from pathlib import Path
from typing import Callable


def positive_int(text: str) -> int:
    value = _number(text, int)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text}")
    return value


def positive_float(text: str) -> float:
    value = _number(text, float)
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return value


def non_negative_int(text: str) -> int:
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def non_negative_float(text: str) -> float:
    value = _number(text, float)
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def fraction(text: str) -> float:
    """A number in [0, 1] (a confidence, an IoU, a strength)."""
    value = _number(text, float)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], not {text}")
    return value


def output_file(text: str) -> Path:
    """A file to write (its missing folders are made): not a folder, and where its folders do
    not exist yet, the nearest one that does is a writable folder (checked before the work)."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder, not a file")
    _writable_above(path)
    return path


def output_file_of(*suffixes: str) -> Callable[[str], Path]:
    """output_file for a file whose name ends in one of ``suffixes`` (".png", ".onnx"): what
    the tool writes into it is that format, whatever the name says."""
    def check(text: str) -> Path:
        path = output_file(text)
        if not text.lower().endswith(suffixes):
            raise argparse.ArgumentTypeError(f"{text}: the file is written as "
                                             f"{' or '.join(suffixes)}; name it so")
        return path
    return check


def input_file_of(*suffixes: str) -> Callable[[str], Path]:
    """An existing file whose name ends in one of ``suffixes`` (``~`` expanded: a shell leaves
    it in ``--model=~/m.onnx``)."""
    def check(text: str) -> Path:
        path = Path(text).expanduser()
        if not text.lower().endswith(suffixes):
            raise argparse.ArgumentTypeError(f"{text} is not a {' or '.join(suffixes)} file")
        if not path.is_file():
            raise argparse.ArgumentTypeError(f"{text} not found")
        return path
    return check


def output_folder(text: str) -> Path:
    """A folder to write into (made with its missing parents): not an existing file, and the
    nearest existing folder above it is writable."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} exists and is not a folder")
    _writable_above(path)
    return path


def output_prefix(text: str) -> Path:
    """PREFIX of files PREFIX.md, PREFIX.json ...: the nearest existing folder above is writable."""
    path = Path(text)
    _writable_above(path)
    return path


def prepare_output(path: Path) -> Path:
    """Make the missing folders of a file the tool is about to write; returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _writable_above(path: Path) -> None:
    above = path.absolute().parent
    while not above.exists():
        above = above.parent
    if not above.is_dir():
        raise argparse.ArgumentTypeError(f"{above} is not a folder")
    if not os.access(above, os.W_OK):
        raise argparse.ArgumentTypeError(f"cannot write in {above}")


def _number(text: str, kind: type) -> float:
    try:
        return kind(text)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"not {what}: {text}") from None


def _user_errors() -> tuple[type[BaseException], ...]:
    """OSError and the libraries' own errors for a file that is not what it should be."""
    from .backend import ModelLoadError
    errors: list[type[BaseException]] = [OSError, ModelLoadError]
    try:
        from google.protobuf.message import DecodeError  # an ONNX file that is not one
        errors.append(DecodeError)
    except ImportError:
        pass
    try:
        from rosbags.rosbag2 import ReaderError  # a bag that is not one
        errors.append(ReaderError)
    except ImportError:
        pass
    return tuple(errors)


def guarded(prog: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Decorate a console script's ``main``: a user error ends it with ``prog: error: ...`` on
    one line and exit status 2; Ctrl-C with ``prog: interrupted`` after the tool's own cleanup,
    not with a traceback: run as the console script ``prog`` it then dies of SIGINT (status 130
    in a shell, and a shell script's loop over it stops), called in-process it returns 130."""
    def wrap(main: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(main)
        def run(*args, **kwargs) -> int:
            try:
                return main(*args, **kwargs)
            except _user_errors() as exc:
                reason = " ".join(str(exc).split()) or type(exc).__name__
                print(f"{prog}: error: {reason}", file=sys.stderr, flush=True)
                return 2
            except KeyboardInterrupt:
                print(f"{prog}: interrupted", file=sys.stderr, flush=True)
                if Path(sys.argv[0]).name == prog:  # the console script itself: it dies of
                    import signal  # SIGINT, as a shell script that called it must see to stop
                    signal.signal(signal.SIGINT, signal.SIG_DFL)
                    os.kill(os.getpid(), signal.SIGINT)
                return 130  # called in-process (a test, another tool): the caller decides
        return run
    return wrap
