"""What every command line shares: the defaults, option types that refuse impossible numbers at
parse time, and one way to turn a foreseen error into one line on stderr and exit code 1.

    @cli.guarded
    def main(argv=None) -> int:
        parser = cli.ArgumentParser(prog="python -m competition.cv", description=...)
        parser.add_argument("--folds", type=cli.int_at_least(2), default=cli.FOLDS)
"""

from __future__ import annotations

import argparse
import math
import functools
import sys
import warnings
from pathlib import Path
from typing import Callable

from .errors import InputError, InputWarning

DATA = Path("data/fashion-mnist")  # the competition folder every command uses by default
RUNS = Path("runs")
SUBMISSIONS = Path("submissions")
FOLDS = 5
SEED = 87
MAX_SEED = 2**32 - 1  # NumPy's and scikit-learn's seeds are 32-bit unsigned


PROG_NAMES: dict[str, str] = {}  # "python -m competition.cv" -> "competition cv" when run by the console script


class ArgumentParser(argparse.ArgumentParser):
    """argparse, except that a bad command line is one ``error: ...`` line and exit code 1, like
    every other refused input (argparse's own: the usage block and exit code 2). Its program name
    is the way the user ran it: ``python -m competition.cv`` or ``competition cv``."""

    def __init__(self, *args, **kwargs):
        if kwargs.get("prog") in PROG_NAMES:
            kwargs["prog"] = PROG_NAMES[kwargs["prog"]]
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(1, f"error: {message} (see {self.prog} --help)\n")


def int_at_least(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: an integer in ``[minimum, maximum]``, else a clear usage error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            allowed = f"from {minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {value}")
        return value

    parse.__name__ = "integer"  # argparse names the type in its messages
    return parse


def positive_number(text: str) -> float:
    """An argparse ``type``: a finite number above 0 (minutes, seconds), else a clear usage error."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number above 0, got {text}")
    return value


seed = int_at_least(0, MAX_SEED)


def describe_os_error(exc: OSError) -> str:
    """``path: reason`` for an OSError from the file system, else its own text."""
    if exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    if issubclass(category, InputWarning):
        print(f"warning: {message}", file=sys.stderr)
    else:
        _default_show(message, category, filename, lineno, file, line)


_default_show = warnings.showwarning


def guarded(main: Callable[..., int]) -> Callable[..., int]:
    """Run a command's ``main``: an ``InputError`` or a file-system error becomes ``error: ...`` and
    exit code 1, Ctrl-C exit code 130, and our warnings print as one ``warning: ...`` line each."""

    @functools.wraps(main)
    def run(*args, **kwargs) -> int:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            try:
                return main(*args, **kwargs)
            except InputError as exc:
                print(f"error: {exc}", file=sys.stderr)
            except OSError as exc:
                print(f"error: {describe_os_error(exc)}", file=sys.stderr)
            except KeyboardInterrupt:  # the command itself says what was kept (cv: how to resume)
                return 130
        return 1

    return run
