"""Grade submissions against the answer key, Kaggle-style: public and private scores.

    python -m competition.grade FILE [FILE ...] [--data DIR] [--solution PATH] [--reveal]
                                [--message M] [--daily-limit N] [--metric NAME]

The command of the local grader (``competition.grade.local``); the grading itself is
``competition.grade.grader.Grader``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import cli
from ..data import metrics
from . import ledger
from .grader import Grader
from .local import grade_files


def build_parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(prog="python -m competition.grade",
                                description="Validate and score submission CSVs; "
                                            "record them and redraw leaderboard.md.")
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="submission CSV(s)")
    cli.add_data(parser)
    parser.add_argument("--solution", type=Path, metavar="CSV", help="answer key (default <data>.grader/solution.csv)")
    parser.add_argument("--reveal", action="store_true",
                        help="end the competition: score the kept files on the private rows and show them from now on")
    parser.add_argument("--message", default="", metavar="M", help="a note stored with each graded file")
    parser.add_argument("--daily-limit", type=cli.int_at_least(1), metavar="N",
                        help="at most N counted submissions a UTC day (off by default)")
    parser.add_argument("--metric", choices=list(metrics.REGISTRY), metavar="NAME",
                        help="score by NAME instead of the competition's metric (competition.json; accuracy "
                             "without one), with a warning: the competition decides")
    parser.add_argument("--ledger", type=Path, default=ledger.LEDGER, metavar="JSONL",
                        help=f"ledger file (default {ledger.LEDGER})")
    parser.add_argument("--leaderboard", type=Path, default=Path("leaderboard.md"), metavar="MD",
                        help="leaderboard to redraw (default leaderboard.md)")
    return parser


@cli.guarded
def main(argv: list[str] | None = None) -> int:
    from .leaderboard import check_replaceable

    args = build_parser().parse_args(argv)
    check_replaceable(args.leaderboard)
    ledger.check(args.ledger)
    grader = Grader(args.data, args.solution, args.metric, args.daily_limit)
    return grade_files(args.files, grader, ledger_path=args.ledger, leaderboard_path=args.leaderboard,
                       message=args.message, reveal=args.reveal)


if __name__ == "__main__":
    sys.exit(main())
