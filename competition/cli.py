"""What every command line shares: the defaults, option types that refuse impossible numbers at
parse time, the options several commands take (declared once here, so that their help reads the
same everywhere), and one way to turn a foreseen error into one line on stderr and exit code 1.

    @cli.guarded
    def main(argv=None) -> int:
        parser = cli.ArgumentParser(prog="python -m competition.cv", description=...)
        cli.add_data(parser)
        cli.add_folds(parser)
"""

from __future__ import annotations

import argparse
import ast
import functools
import math
import sys
import warnings
from pathlib import Path
from typing import Any, Callable

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


def bounded(convert: Callable[[str], Any], expected: str, allowed: Callable[[Any], bool], must: str,
            name: str = "number") -> Callable[[str], Any]:
    """The one way an option's number is read: an argparse ``type`` that converts the text (else
    ``expected <what>, got 'text'``) and refuses a value outside ``allowed`` (``<must>, got text``).
    Every numeric option type below is one of these, so each says the same two things the same way."""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not allowed(value):
            raise argparse.ArgumentTypeError(f"{must}, got {value if convert is int else text}")
        return value

    parse.__name__ = name  # argparse names the type in its messages
    return parse


def int_at_least(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: an integer in ``[minimum, maximum]``, else a clear usage error."""
    allowed = f"from {minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
    return bounded(int, "an integer", lambda value: minimum <= value and (maximum is None or value <= maximum),
                   f"must be {allowed}", name="integer")


# An argparse ``type``: a finite number above 0 (minutes, seconds), else a clear usage error.
positive_number = bounded(float, "a number", lambda value: math.isfinite(value) and value > 0,
                          "must be a number above 0")


def fraction(hint: str = "") -> Callable[[str], float]:
    """An argparse ``type``: a share or a confidence strictly between 0 and 1 (``hint``: how to
    write one, said when it is refused)."""
    return bounded(float, "a fraction", lambda value: 0 < value < 1, f"must be a fraction between 0 and 1{hint}")


def at_least(name: str, value: int | None, minimum: int = 1, error: type[InputError] = InputError) -> None:
    """The same bound for a caller that skips the command line (a function called with ``limit=0``):
    ``<name> must be at least <minimum>, got <value>``, as ``int_at_least`` says it."""
    if value is not None and value < minimum:
        raise error(f"{name} must be at least {minimum}, got {value}")


seed = int_at_least(0, MAX_SEED)


def parse_param(text: str) -> tuple[str, Any]:
    """``"max_depth=8"`` -> ``("max_depth", 8)``: numbers, booleans, None, tuples as Python literals."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"--param expects name=value, got {text!r}")
    value = value.strip()
    words = {"true": True, "false": False, "none": None, "null": None}
    if value.lower() in words:
        return name.strip(), words[value.lower()]
    try:
        return name.strip(), ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name.strip(), value


# The options of the commands that cross-validate (cv, tune, shift, submit) and of those that read a
# competition or run folders. ``default=None`` where a command fills the gap itself (cv --resume
# takes the resumed run's); the help says the usual default either way. ``also``: what the option
# does besides, in that command.

def add_data(parser, *, default: Path | None = DATA) -> None:
    parser.add_argument("--data", type=Path, default=default, metavar="DIR",
                        help=f"competition folder (default {DATA})")


def add_folds(parser, *, default: int | None = FOLDS) -> None:
    parser.add_argument("--folds", type=int_at_least(2), default=default, metavar="K",
                        help=f"number of stratified folds (default {FOLDS})")


def add_seed(parser, *, default: int | None = SEED, also: str = "") -> None:
    parser.add_argument("--seed", type=seed, default=default, metavar="S",
                        help=f"seed of the folds and the --limit sample{also} (default {SEED})")


def add_limit(parser, *, rows: str = "training rows", minimum: int = 1) -> None:
    parser.add_argument("--limit", type=int_at_least(minimum), default=None, metavar="N",
                        help=f"use a stratified sample of N {rows} (faster)")


def add_param(parser, *, also: str = "") -> None:
    parser.add_argument("--param", type=parse_param, action="append", default=[], metavar="NAME=VALUE",
                        help=f"set a model parameter, e.g. --param max_depth=8 (repeatable){also}")


def add_runs_dir(parser, *, also: str = "") -> None:
    parser.add_argument("--runs-dir", type=Path, default=RUNS, metavar="DIR",
                        help=f"the folder of run folders{also} (default {RUNS})")


def add_cluster(parser) -> None:
    """``--workers N`` and ``--scheduler ADDRESS``: where the folds train (``competition.cv.cluster``)."""
    parser.add_argument("--workers", type=int_at_least(1), metavar="N",
                        help="train the folds on a local Dask cluster of N single-thread worker processes")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="train the folds on a running Dask cluster (default: COMPETITION_SCHEDULER, if set)")


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


def wrap_seed(seed: int) -> int:
    """``seed`` moved into ``[0, MAX_SEED]`` (modulo ``MAX_SEED + 1``): a seed counted up from a
    given one (a seed average's members, a continued study's sampler) stays one NumPy takes."""
    return seed % (MAX_SEED + 1)


# The options of a run's recipe beyond its folds (cv, submit), declared once so that their help
# reads the same in both. ``default=None`` where the command fills the gap (cv --resume).

SEEDS_HELP = ("average N copies of each model whose seeds differ (random_state, random_state+1, ...) "
              "into one run (default 1); with --workers or --scheduler every seed of every fold runs at once")
REFIT_HELP = ("after the folds, train the model again on every training row (for as many epochs or rounds as "
              "the folds' early stopping kept) and predict the test set with it; the CV score stays the folds'")
TIME_BUDGET_HELP = ("minutes the whole run may take, its fits one after another: each fit's epochs are sized to "
                    "its share once the first epoch is timed (networks only)")


def add_seeds(parser, *, default: int | None = 1) -> None:
    parser.add_argument("--seeds", type=int_at_least(1), default=default, metavar="N", help=SEEDS_HELP)


def add_refit(parser, *, default: bool | None = False) -> None:
    parser.add_argument("--refit", action="store_true", default=default, help=REFIT_HELP)


def add_time_budget(parser) -> None:
    parser.add_argument("--time-budget", type=positive_number, default=None, metavar="MINUTES",
                        help=TIME_BUDGET_HELP)
