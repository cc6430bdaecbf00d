"""``competition``: one command with verbs, each the module's own command line.

    competition prepare | check DIR | cv | runs | tune | shift | compare A B | submit | grade | leaderboard
    competition report | track | server VERB ... | upload FILE|VERB ... | download | --version

``competition cv ...`` runs exactly ``python -m competition.cv ...`` (the same parser, options and
help), so both ways keep working; only the verb's module is imported, so ``--help`` answers at once.
"""

from __future__ import annotations

import importlib
import sys

from . import cli

# verb -> (module with its main(), its `python -m competition.NAME` name, arguments put before the user's, what it does)
VERBS = {
    "prepare": ("prepare.__main__", "prepare", [], "build a competition folder and its answer key"),
    "check": ("data.loader", "data", ["check"], "validate a competition folder and print its summary"),
    "cv": ("cv.__main__", "cv", [], "cross-validate a model on stratified folds"),
    "runs": ("runs.__main__", "runs", [], "list or compare cross-validation runs"),
    "tune": ("tune", "tune", [], "search a model's parameters on the folds (Optuna)"),
    "shift": ("shift", "shift", [], "check train against test (adversarial validation)"),
    "compare": ("analysis.compare", "compare", [], "is run or submission B better than A, or just noise?"),
    "submit": ("submit", "submit", [], "write a validated submission (and grade or upload it)"),
    "grade": ("grade.__main__", "grade", [], "score submissions locally into the ledger and leaderboard.md"),
    "leaderboard": ("grade.leaderboard", "leaderboard", [], "redraw leaderboard.md from the ledger"),
    "report": ("analysis.report", "report", [], "draw a run's or the data's pictures"),
    "track": ("cv.track", "track", [], "log runs to MLflow"),
    "server": ("server.__main__", "server", [], "host a competition: teams, serve, set, export ..."),
    "upload": ("client.upload", "upload", [], "upload to a grader, list submissions, pick finals (Kaggle's verbs)"),
    "download": ("client.upload", "upload", ["download"], "fetch a competition's data from its grader"),
}


def version() -> str:
    from importlib.metadata import PackageNotFoundError, version as installed

    try:
        return installed("competition")
    except PackageNotFoundError:
        return "unknown (not installed)"


def usage() -> str:
    width = max(map(len, VERBS))
    lines = ["usage: competition VERB [options]   (competition VERB --help for a verb's options)", "",
             "A Kaggle-style competition toolkit.", "", "verbs:"]
    lines += [f"  {verb:<{width}}  {text}" for verb, (_, _, _, text) in VERBS.items()]
    lines += ["", "  --version  print the version", "",
              "Each verb is also `python -m competition.MODULE` (check: competition.data check)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 1
    if argv[0] == "--version":
        print(f"competition {version()}")
        return 0
    verb, rest = argv[0], argv[1:]
    if verb not in VERBS:
        print(f"error: unknown verb {verb!r}; one of: {', '.join(VERBS)} (see competition --help)", file=sys.stderr)
        return 1
    module, name, before, _ = VERBS[verb]
    cli.PROG_NAMES[f"python -m competition.{name}"] = "competition" if before else f"competition {verb}"
    return importlib.import_module(f"competition.{module}").main(before + rest)


if __name__ == "__main__":
    sys.exit(main())
