"""Run folders: the one record every competitor-side step shares (``cv``, ``tune`` and ensembles
write it; ``submit``, ``analysis``, ``shift`` and ``track`` read it). Below all of them, it imports
none of them.

    records     what a run holds, in memory (``Run``, ``FoldResult``, ``RefitResult``, ``CVResult``,
                ``RunError``), and its file names
    schema      what every reader takes from a run's config and scores, as rules
    folder      the one writer (``create``, ``save_fold``, ``save_refit``, ``write_run``) and the readers
                (``load_run``, ``list_runs``, ``verify``)
    lookup      the one look-up of a recipe: finished, interrupted, refit twin (``lookup``)
    matching    the one rule for whether a stored run answers a request
    scoring     a fold's and a run's scores
    provenance  what produced a run or a file: commit, versions, command, time
    table       runs side by side (``--compare``)
    __main__    ``python -m competition.runs``: list or compare the runs

The names below are the package's face: ``runs.write_run(...)``, ``runs.lookup(...)``, ``runs.Run``.
"""

from .folder import (
    copy_folds,
    create,
    done_folds,
    fold_problem,
    list_runs,
    load_fold,
    load_refit,
    load_run,
    new_run_dir,
    save_fold,
    save_refit,
    verify,
    write_run,
)
from .lookup import Found, lookup
from .records import (
    CONFIG,
    FOLDS,
    HISTORIES,
    LABELS,
    OOF,
    REFIT_ARRAYS,
    REFIT_SCORES,
    SCORES,
    TEST,
    CVResult,
    FoldResult,
    RefitResult,
    Run,
    RunError,
    check_probabilities,
)
from .table import compare, compare_table, describe, format_seconds, format_table, with_uncertainty

__all__ = ["CONFIG", "FOLDS", "HISTORIES", "LABELS", "OOF", "REFIT_ARRAYS", "REFIT_SCORES", "SCORES", "TEST",
           "CVResult", "FoldResult", "Found", "RefitResult", "Run", "RunError", "check_probabilities", "compare",
           "compare_table", "copy_folds", "create", "describe", "done_folds", "fold_problem", "format_seconds",
           "format_table", "list_runs", "load_fold", "load_refit", "load_run", "lookup", "new_run_dir", "save_fold",
           "save_refit", "verify", "with_uncertainty", "write_run"]
