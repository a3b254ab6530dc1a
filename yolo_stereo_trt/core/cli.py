"""What the console scripts share: argparse types that refuse an impossible value while the
arguments are parsed (argparse's usage line and one error line, exit status 2), and a guard
that turns the errors a user causes at run time (a file that is missing, unreadable or not
what it should be, a model that does not load, an output path that cannot be written) into one
line on stderr and exit status 2 instead of a traceback.
"""
from __future__ import annotations

import argparse
import functools
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
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return value


def fraction(text: str) -> float:
    """A number in [0, 1] (a confidence, an IoU, a strength)."""
    value = _number(text, float)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], not {text}")
    return value


def output_file(text: str) -> Path:
    """A file to write: its folder must exist (checked before the work, not after it)."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder, not a file")
    if not path.absolute().parent.is_dir():
        raise argparse.ArgumentTypeError(f"folder {path.absolute().parent} does not exist")
    return path


def output_folder(text: str) -> Path:
    """A folder to write into (made if missing): not an existing file, and its parent exists."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} exists and is not a folder")
    if not path.absolute().parent.is_dir():
        raise argparse.ArgumentTypeError(f"folder {path.absolute().parent} does not exist")
    return path


def _number(text: str, kind: type) -> float:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text}") from None


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
    one line and exit status 2."""
    def wrap(main: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(main)
        def run(*args, **kwargs) -> int:
            try:
                return main(*args, **kwargs)
            except _user_errors() as exc:
                reason = " ".join(str(exc).split()) or type(exc).__name__
                print(f"{prog}: error: {reason}", file=sys.stderr, flush=True)
                return 2
        return run
    return wrap
