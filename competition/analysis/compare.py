"""``competition compare A B``: is B really better than A, or is the gap sampling noise?

    python -m competition.compare RUN_A RUN_B [--confidence 0.95] [--json]
    python -m competition.compare A.csv B.csv [--data DIR] [--solution CSV] [--confidence 0.95] [--json]

Two run folders are compared on their out-of-fold predictions, row by row over the same folds
(runs of other folds, other rows or another competition are refused: their scores do not pair).
Two submission CSVs are compared on the public rows, with the local grader's answer key (what
``grade`` scores them on). Accuracy: exact McNemar test; any other metric: a paired bootstrap of
the difference (``competition.data.uncertainty``). One sentence, or with ``--json`` one object
``{"a", "b", "metric", "difference", "low", "high", "p", "test"}``, ``difference`` = B minus A in
the metric's own units.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import cli
from .. import runs
from ..data import metrics, uncertainty
from ..errors import InputError


@dataclass(frozen=True)
class Paired:
    """Two entries' predictions on the same rows, and what they are scored by."""

    metric: metrics.Metric
    y_true: np.ndarray
    a: np.ndarray
    b: np.ndarray
    n_classes: int
    rows: str  # which rows, in words: "2,400 out-of-fold rows"


def _run(path: Path) -> runs.Run:
    run = runs.load_run(path)
    if not run.finished:
        raise runs.RunError(f"{path}: unfinished ({len(run.done_folds)} of {run.config['folds']} folds done); "
                            f"finish it with python -m competition.cv --resume {path}")
    return runs.verify(run)


def paired_runs(path_a: Path, path_b: Path) -> Paired:
    """The two runs' OOF predictions on their common rows; refused unless both are the same
    competition's runs over the same rows and folds (a damaged run is refused by ``runs``)."""
    a, b = _run(path_a), _run(path_b)
    if a.config["data"]["fingerprint"] != b.config["data"]["fingerprint"]:
        raise InputError(f"{path_b}: a run of another competition or data than {path_a} (their data fingerprints "
                         "differ); compare runs of one competition")
    labels = a.labels()
    if a.config["data"]["train_rows"] != b.config["data"]["train_rows"] or not np.array_equal(labels, b.labels()):
        raise InputError(f"{path_b}: its rows differ from {path_a}'s (other training rows or labels)")
    folds_a, folds_b = a.folds(), b.folds()
    if not np.array_equal(folds_a >= 0, folds_b >= 0):
        raise InputError(f"{path_b}: holds out other rows than {path_a} (another --limit sample): its out-of-fold "
                         "rows differ")
    if not np.array_equal(folds_a, folds_b):
        raise InputError(f"{path_b}: its folds differ from {path_a}'s (another --folds or --seed); out-of-fold "
                         "predictions pair only over identical folds")
    name_a, name_b = (run.scores.get("metric", metrics.DEFAULT) for run in (a, b))
    if name_a != name_b:
        raise InputError(f"{path_b}: scored by {name_b}, {path_a} by {name_a}; compare runs of one metric")
    metric, used = metrics.get(name_a), folds_a >= 0
    oof_a, oof_b = a.oof()[used], b.oof()[used]
    if metric.needs == metrics.LABELS:
        oof_a, oof_b = oof_a.argmax(axis=1), oof_b.argmax(axis=1)
    return Paired(metric, labels[used], oof_a, oof_b, len(a.classes), f"{int(used.sum()):,} out-of-fold rows")


def paired_submissions(path_a: Path, path_b: Path, data: Path, solution: Path | None) -> Paired:
    """The two submissions' predictions on the public rows of the local grader's key."""
    from ..grade.grader import Grader

    grader = Grader(data, solution)
    y_true, a = grader.rows(path_a.read_bytes(), source=str(path_a))
    _, b = grader.rows(path_b.read_bytes(), source=str(path_b))
    return Paired(grader.scorer, y_true, a, b, len(grader.classes), f"{len(y_true):,} public rows")


def paired(path_a: Path, path_b: Path, data: Path, solution: Path | None) -> Paired:
    """Two run folders or two submission files, paired; anything else refused in one line."""
    for path in (path_a, path_b):
        if not path.exists():
            raise InputError(f"{path}: no such run folder or submission file")
    if path_a.is_dir() and path_b.is_dir():
        return paired_runs(path_a, path_b)
    if path_a.is_file() and path_b.is_file():
        return paired_submissions(path_a, path_b, data, solution)
    raise InputError(f"{path_a} and {path_b}: compare two run folders or two submission files, not one of each")


def sentence(name_a: str, name_b: str, metric: metrics.Metric, result: uncertainty.Comparison,
             confidence: float, rows: str) -> str:
    """The answer in words: which is better and by how much, or that the two cannot be told apart."""
    test = "McNemar" if result.test == uncertainty.MCNEMAR else "paired bootstrap"
    p = f"{test} p = {result.p:.3g}"
    if not result.separated(1 - confidence):
        return (f"{name_a} and {name_b} cannot be told apart: {metric.name} B - A = {result.difference:+.4f} "
                f"[{result.low:+.4f}, {result.high:+.4f}], {p} ({rows})")
    gain = result.difference if metric.higher_is_better else -result.difference  # how much B improves on A
    low, high = (result.low, result.high) if metric.higher_is_better else (-result.high, -result.low)
    better, worse = (name_b, name_a) if gain > 0 else (name_a, name_b)
    if gain < 0:
        gain, low, high = -gain, -high, -low
    return f"{better} is better than {worse} by {gain:.4f} [{low:.4f}, {high:.4f}] {metric.name}, {p} ({rows})"


@cli.guarded
def main(argv: list[str] | None = None) -> int:
    parser = cli.ArgumentParser(
        prog="python -m competition.compare",
        description="Compare two run folders (on their out-of-fold predictions, over identical folds) or two "
                    "submission CSVs (on the public rows, with the local grader's answer key): is B better than A, "
                    "or can the two not be told apart? Accuracy: exact McNemar test; other metrics: a paired "
                    "bootstrap of the difference.",
        epilog="example: python -m competition.compare runs/20261201-101010-rf runs/20261201-111111-lgbm")
    parser.add_argument("a", type=Path, metavar="A", help="a run folder or a submission CSV")
    parser.add_argument("b", type=Path, metavar="B", help="another of the same kind")
    cli.add_data(parser)
    parser.add_argument("--solution", type=Path, metavar="CSV",
                        help="answer key for two CSVs (default <data>.grader/solution.csv, the local grader's)")
    parser.add_argument("--confidence", type=cli.fraction(" (0.95 for 95%)"), default=uncertainty.DEFAULT_CONFIDENCE,
                        metavar="C", help="confidence of the interval; the two are told apart when p < 1 - C "
                                          f"(default {uncertainty.DEFAULT_CONFIDENCE})")
    parser.add_argument("--json", action="store_true",
                        help='print one JSON object: {"a", "b", "metric", "difference", "low", "high", "p", "test"}')
    args = parser.parse_args(argv)
    pair = paired(args.a, args.b, args.data, args.solution)
    result = uncertainty.compare(pair.metric, pair.y_true, pair.a, pair.b, pair.n_classes, args.confidence)
    if args.json:
        print(json.dumps({"a": str(args.a), "b": str(args.b), "metric": pair.metric.name,
                          "difference": result.difference, "low": result.low, "high": result.high, "p": result.p,
                          "test": result.test}))
    else:
        print(sentence(str(args.a), str(args.b), pair.metric, result, args.confidence, pair.rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
