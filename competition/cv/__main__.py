"""``python -m competition.cv``: cross-validate models on the competition's folds, each into a run
folder (``obtain.run_models``).

    python -m competition.cv --model NAME [--data data/fashion-mnist] [--folds 5] [--seed 87]
                             [--param k=v ...] [--limit N] [--seeds N] [--refit] [--time-budget MINUTES]
                             [--runs-dir runs] [--resume RUN_DIR]
                             [--workers N | --scheduler ADDRESS] [--list] [--report] [--track mlflow]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .. import cli, extras, runs
from ..analysis.report import run_report
from ..data.loader import load_competition
from ..models import MODELS, missing, model_name, public_params
from ..runs import matching, scoring
from ..workers import bounded
from . import cluster, track
from .obtain import RunMismatchError, check_models, fits_of, run_models


def list_models() -> str:
    """Each model, what it is and its default parameters; one whose libraries are missing is marked
    with what to install (its parameters are its library's, so they cannot be shown)."""
    lines = []
    for spec in MODELS.values():
        lacking = missing(spec.name)
        if lacking:
            shown = f"not installed: {extras.missing_message(lacking[0], 'it')}"
        else:
            params = public_params(spec.build())
            shown = ", ".join(f"{k}={v}" for k, v in params.items() if v is not None)
        lines.append(f"{spec.name:<9} {spec.summary}\n          {shown}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(
        prog="python -m competition.cv", description="Cross-validate a model on stratified folds; "
        "save out-of-fold and test probabilities under runs/.",
        epilog="example: python -m competition.cv --model xgb --param max_depth=8 --limit 5000")
    parser.add_argument("--model", nargs="+", type=model_name, choices=list(MODELS), metavar="NAME",
                        help="model(s) to cross-validate, each into its own run folder (see --list); with "
                             "--workers or --scheduler all their folds go to the cluster at once")
    # no defaults here: --resume takes the resumed run's (resolve_args)
    cli.add_data(parser, default=None)
    cli.add_folds(parser, default=None)
    cli.add_seed(parser, default=None)
    cli.add_param(parser)
    cli.add_limit(parser)
    cli.add_seeds(parser, default=None)
    cli.add_refit(parser, default=None)
    cli.add_time_budget(parser)
    cli.add_runs_dir(parser)
    parser.add_argument("--resume", type=Path, metavar="RUN_DIR", help="finish the missing folds of an interrupted run")
    cli.add_cluster(parser)
    parser.add_argument("--list", action="store_true", help="list the models and their default parameters")
    parser.add_argument("--report", action="store_true", help="draw the run's report (competition.report) when it ends")
    parser.add_argument("--track", choices=["mlflow"], help="log each finished run to MLflow (MLFLOW_TRACKING_URI "
                        "says where; needs pip install 'competition[tracking]'), after its folder is saved")
    return parser


def resolve_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict:
    """Arguments for ``run_models``; with ``--resume`` the run's own settings fill the gaps."""
    saved = runs.load_run(args.resume).config if args.resume else {}
    models = args.model or [saved.get("model")]
    if not models[0]:
        parser.error("--model is required (or --resume RUN_DIR)")
    if len(models) > 1 and args.resume:
        parser.error("--resume finishes one run: give it one --model, or none")
    params = dict(args.param) if args.param else saved.get("overrides", {})
    data = args.data
    if data is None and saved:
        data = Path(saved["data"].get("path", ""))
        if not data.is_dir():
            raise RunMismatchError(f"{args.resume}: was made on the data at {str(data)!r}, which is not a folder from "
                                   "here; name the competition folder with --data")
    return {
        "models": models,
        "data": data or cli.DATA,
        "n_folds": args.folds or saved.get("folds", cli.FOLDS),
        "seed": args.seed if args.seed is not None else saved.get("seed", cli.SEED),
        "params": params,
        "limit": args.limit if args.limit is not None else saved.get("limit"),
        "seeds": args.seeds or matching.setting(saved, "seeds"),
        "refit": args.refit or matching.setting(saved, "refit"),
        "time_budget": args.time_budget,
    }


@cli.guarded
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        print(list_models())
        return 0
    options = resolve_args(args, parser)
    models = options.pop("models")
    if args.track:
        track.require()  # a missing MLflow is said before the cross-validation, not after
    cluster.require(args.workers, args.scheduler)  # and a missing Dask
    check_models(models, options["params"], options["seeds"], options["time_budget"], options["n_folds"],
                 options["refit"])  # before a cluster starts or any data is read
    comp = load_competition(options.pop("data"), min_class_rows=options["n_folds"])
    start = time.perf_counter()
    fits = len(models) * fits_of(options["n_folds"], options["seeds"], options["refit"])
    with cluster.executor(bounded(args.workers, fits), args.scheduler) as executor:
        made = run_models(models, comp, executor=executor, runs_dir=args.runs_dir, resume=args.resume, **options)
    for run in made:
        s = run.scores
        metric = scoring.metric_scores(run, comp.overview.metric)
        scored = "" if metric["metric"] == "accuracy" else (f"{metric['metric']} {metric['score_mean']:.4f} +- "
                                                            f"{metric['score_std']:.4f} "
                                                            f"(OOF {metric['oof_score']:.4f}), ")
        print(f"{run.config['model']} {run.config['folds']}-fold {scored}accuracy {s['accuracy_mean']:.4f} +- "
              f"{s['accuracy_std']:.4f}, log loss {s['oof_log_loss']:.4f}, "
              f"{runs.format_seconds(time.perf_counter() - start)} -> {run.path}")
        if args.report:
            print(f"report: {run_report(run.path, comp=comp)}")
    if args.track:
        track.log_runs(made)
    return 0




if __name__ == "__main__":
    sys.exit(main())
