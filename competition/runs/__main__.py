"""``python -m competition.runs``: list the run folders with their CV scores, or compare the
finished ones side by side.

    python -m competition.runs [--runs-dir runs] [--model NAME ...]   lists runs with their CV scores
    python -m competition.runs --compare [--model NAME ...]         a table of finished runs: model, the
                                                                    parameters that differ, CV, time, the
                                                                    OOF score's interval and its tier
"""

from __future__ import annotations

import sys

from .. import cli
from .folder import list_runs
from .records import RunError
from .table import compare, describe


@cli.guarded
def main(argv: list[str] | None = None) -> int:
    parser = cli.ArgumentParser(prog="python -m competition.runs", description="List cross-validation runs, or compare "
                                "the finished ones side by side (--compare).",
                                epilog="example: python -m competition.runs --compare --model dt rf")
    cli.add_runs_dir(parser)
    parser.add_argument("--compare", action="store_true",
                        help="a table of the finished runs: model, the parameters that differ among them, seeds, "
                             "folds, limit, CV accuracy, OOF log loss, time, the OOF score with its 95%% interval "
                             "and its tier (tier 1: the best run and every run on its folds that a paired test "
                             "cannot tell apart from it; '-': other folds); best first, one table per data set")
    parser.add_argument("--model", nargs="+", metavar="NAME", help="only the runs of these models")
    args = parser.parse_args(argv)
    if args.runs_dir.exists() and not args.runs_dir.is_dir():
        raise RunError(f"--runs-dir {args.runs_dir}: is a file, not a folder of runs")
    found = [run for run in list_runs(args.runs_dir) if not args.model or run.config["model"] in args.model]
    if not found:
        which = f" of {', '.join(args.model)}" if args.model else ""
        print(f"no runs{which} in {args.runs_dir}; start one with python -m competition.cv --model NAME")
    elif args.compare:
        print(compare(found) if any(run.finished for run in found) else f"no finished runs in {args.runs_dir}")
    else:
        for run in found:
            print(describe(run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
