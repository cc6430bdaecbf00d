"""Write a submission: ``python -m competition.submit --model cnn`` -> ``submissions/<name>.csv``.

    python -m competition.submit --model NAME [--data DIR] [--folds K] [--seed S] [--param k=v ...]
                                 [--limit N] [--seeds N] [--refit]
                                 [--time-budget MINUTES] [--run RUN_DIR] [--name NAME] [--grade] [--report]
                                 [--track mlflow]
    python -m competition.submit --ensemble RUN_OR_MODEL [RUN_OR_MODEL ...] --method mean|vote|weights|stack

A model's submission reuses the newest finished run with the same model, parameters, seeds, data,
folds, seed and limit (and says so), or cross-validates first; its prediction is the fold-averaged test
probability. The CSV copies the sample submission's format exactly: header, column order, ids as
written, row order, line ends. It is validated with the grader's own checks (``competition.grade.validate``)
before it is written, never overwrites an earlier file, and gets a sidecar ``<name>.json`` with the
recipe, the CV score and the CSV's sha256, which the grader and the leaderboard read.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from . import cli, runs
from .analysis.report import run_report
from .cv import cluster, track
from .cv.ensemble import METHODS, ensemble, resolve_member
from .cv.obtain import obtain_run
from .data import metrics
from .data.loader import load_competition
from .data.records import Competition
from .fsutil import ensure_dir, write_new
from .grade.grader import Grader
from .grade.local import grade_files
from .grade.validate import Sample, SubmissionError, read_sample, validate_submission
from .models import MODELS, model_name
from .runs import matching, provenance


def format_csv(sample: Sample, labels: dict) -> bytes:
    """The sample submission with its label column filled from ``labels`` (id -> label text), or
    a probability sample's class columns (id -> {class column: probability text})."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator=sample.line_ending)
    buffer.write(sample.header_line + sample.line_ending)
    for image_id in sample.ids:
        writer.writerow([image_id if column == sample.id_column
                         else labels[image_id][column] if sample.class_columns else labels[image_id]
                         for column in sample.columns])
    return (b"\xef\xbb\xbf" if sample.bom else b"") + buffer.getvalue().encode("utf-8")


def predicted_labels(run: runs.Run, comp: Competition) -> dict[str, str]:
    """Each test id's predicted label, in the form train.csv writes labels."""
    test = run.test()
    if test.shape != (len(comp.test_ids), len(comp.classes)):
        raise SubmissionError(f"{run.path}: test probabilities of shape {test.shape}, expected "
                              f"{(len(comp.test_ids), len(comp.classes))}")
    labels = comp.classes[np.argmax(test, axis=1)]
    return {image_id: str(label) for image_id, label in zip(comp.test_ids.tolist(), labels.tolist())}


def predicted_probabilities(run: runs.Run, comp: Competition) -> dict[str, dict[str, str]]:
    """Each test id's class probabilities as text, by class column (a probability competition's
    submission): float64 rows renormalised to sum to 1, written to 9 significant digits."""
    predicted_labels(run, comp)  # the same shape check
    test = run.test().astype(np.float64)
    test /= test.sum(axis=1, keepdims=True)
    columns = [str(c) for c in comp.classes.tolist()]
    return {image_id: {column: f"{p:.9g}" for column, p in zip(columns, row)}
            for image_id, row in zip(comp.test_ids.tolist(), test.tolist())}


def cv_record(run: runs.Run, comp: Competition) -> dict:
    """What a sidecar says of the run's CV: accuracy and log loss, and the competition's metric
    scored on each fold's held-out rows and on all OOF rows (from the run's verified arrays)."""
    s = run.scores
    scored = metrics.cv_scores(comp.overview.scorer, run.oof(), run.labels(), run.folds())
    return {"accuracy_mean": s["accuracy_mean"], "accuracy_std": s["accuracy_std"],
            "oof_accuracy": s["oof_accuracy"], "oof_log_loss": s["oof_log_loss"], "oof_rows": s["oof_rows"],
            "folds": run.config["folds"], **scored}


NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}")


def check_submission_name(name: str) -> str:
    """A submission name is a plain file name stem: it can never point outside the submissions folder."""
    if not NAME_PATTERN.fullmatch(name) or name.endswith((".csv", ".json")):
        raise SubmissionError(f"--name {name!r}: use 1-100 letters, digits, '.', '_', '+' or '-', starting with a "
                              "letter or digit, without a folder or an extension")
    return name


def taken(out_dir: Path, name: str) -> bool:
    return (out_dir / f"{name}.csv").exists() or (out_dir / f"{name}.json").exists()


def submission_name(base: str, out_dir: Path, explicit: bool) -> str:
    """``base``, or with an explicit name refused if its CSV or sidecar exists; else ``base-2``, ``base-3``..."""
    if explicit:
        if taken(out_dir, base):
            raise SubmissionError(f"{out_dir / base}.csv or .json already exists; choose another --name")
        return base
    name, n = base, 2
    while taken(out_dir, name):
        name, n = f"{base}-{n}", n + 1
    return name


def recipe_of(run: runs.Run) -> dict:
    c = run.config
    recipe = {"model": c["model"], "params": c["params"], "overrides": c.get("overrides", {}), "run": str(run.path),
              "folds": c["folds"], "seed": c["seed"], "limit": c.get("limit"),
              **{key: matching.setting(c, key) for key in matching.DEFAULTS}}
    if "members" in c:
        recipe["members"] = c["members"]
        recipe["method"] = c.get("method")
    return recipe


def submit(run: runs.Run, comp: Competition, *, out_dir: str | Path = "submissions", name: str | None = None) -> Path:
    """Validate and write the submission of ``run``; return the CSV's path (the sidecar is beside it)."""
    out_dir = ensure_dir(out_dir, "submissions folder")
    probabilities = comp.overview.probabilities
    sample = read_sample(comp.path / "test_sample.csv", probabilities=probabilities)
    data = format_csv(sample, (predicted_probabilities if probabilities else predicted_labels)(run, comp))
    validate_submission(data, sample, comp.classes.tolist(), source=f"submission from {run.path}")
    default = f"{run.config['model']}-{time.strftime('%Y%m%d-%H%M%S')}"
    name = submission_name(check_submission_name(name) if name is not None else default,
                           out_dir, explicit=name is not None)
    csv_path = out_dir / f"{name}.csv"
    sidecar = {
        "name": name, "csv": csv_path.name, "sha256": hashlib.sha256(data).hexdigest(),
        "recipe": recipe_of(run),
        "cv": cv_record(run, comp),
        "data": {"name": comp.name, "fingerprint": comp.fingerprint},
        **provenance.record(),
    }
    sidecar_path = write_new(out_dir / f"{name}.json", (json.dumps(sidecar, indent=2) + "\n").encode())
    try:
        write_new(csv_path, data)
    except BaseException:
        sidecar_path.unlink()  # ours, written a moment ago: no sidecar without its CSV
        raise
    return csv_path


def describe_submission(csv_path: Path, run: runs.Run, comp: Competition) -> str:
    s = run.scores
    counts = Counter(predicted_labels(run, comp).values())
    shares = "  ".join(f"{label}:{counts.get(str(label), 0) / len(comp.test_ids):.1%}"
                       for label in comp.classes.tolist())
    cv = cv_record(run, comp)
    metric = "" if cv["metric"] == "accuracy" else (
        f"CV {cv['metric']} {cv['score_mean']:.4f} +- {cv['score_std']:.4f} (OOF {cv['oof_score']:.4f}); ")
    return (f"wrote {csv_path} ({len(comp.test_ids):,} rows)\n" + metric +
            f"CV accuracy {s['accuracy_mean']:.4f} +- {s['accuracy_std']:.4f} ({run.config['folds']}-fold, "
            f"OOF {s['oof_accuracy']:.4f}) from {run.path}\n"
            f"predicted classes: {shares}")


def describe_ensemble(report: dict, run: runs.Run) -> str:
    metric = report.get("metric", metrics.DEFAULT)
    shown = metric != metrics.DEFAULT
    lines = [f"members (OOF {metric + ', ' if shown else ''}accuracy, log loss):"]
    for i, m in enumerate(report["members"]):
        weight = f"  weight {report['weights'][i]:.3f}" if "weights" in report else ""
        score = f"{m['oof_score']:.4f}  " if shown else ""
        lines.append(f"  [{i}] {m['model']:<14} {score}{m['oof_accuracy']:.4f}  {m['oof_log_loss']:.4f}{weight}  "
                     f"{m['run']}")
    if "weights_optimise" in report:
        lines.append(f"weights optimise the OOF {report['weights_optimise']}"
                     + (f" ({metric} is not smooth in the weights)" if report["weights_optimise"] != metric else ""))
    lines.append("pairwise agreement of top classes on OOF rows:")
    for i, row in enumerate(report["agreement"]):
        lines.append(f"  [{i}] " + " ".join(f"{v:.3f}" for v in row))
    scored = f"{metric} {run.scores['oof_score']:.4f}, " if shown and "oof_score" in run.scores else ""
    lines.append(f"ensemble OOF {scored}accuracy {run.scores['oof_accuracy']:.4f}, log loss "
                 f"{run.scores['oof_log_loss']:.4f} -> {run.path}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(
        prog="python -m competition.submit",
        description="Write a validated submission CSV from a model's cross-validation run or an ensemble of runs.",
        epilog="examples:\n  python -m competition.submit --model cnn\n"
               "  python -m competition.submit --ensemble cnn xgb lgbm --method weights",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", type=model_name, choices=list(MODELS),
                        help="submit this model's run (cross-validated if needed)")
    source.add_argument("--run", type=Path, metavar="RUN_DIR", help="submit this finished run")
    source.add_argument("--ensemble", nargs="+", metavar="RUN_OR_MODEL",
                        help="blend these runs (a model name means its newest finished run)")
    parser.add_argument("--method", choices=list(METHODS), default="mean",
                        help="how to blend an --ensemble (default mean)")
    cli.add_data(parser)
    cli.add_folds(parser)  # the folds of a run it cross-validates, or finds
    cli.add_seed(parser)
    cli.add_limit(parser)
    cli.add_param(parser)
    cli.add_seeds(parser)
    cli.add_refit(parser)
    cli.add_time_budget(parser)
    parser.add_argument("--name", help="submission name (default <model>-<time>): letters, digits, . _ + -; "
                                        "never overwrites")
    cli.add_runs_dir(parser)
    parser.add_argument("--out", type=Path, default=cli.SUBMISSIONS, metavar="DIR",
                        help=f"where submissions go (default {cli.SUBMISSIONS})")
    parser.add_argument("--report", action="store_true", help="draw the run's report (competition.report) too")
    cli.add_cluster(parser)
    parser.add_argument("--grade", action="store_true",
                        help="grade the new submission locally and redraw leaderboard.md (needs the answer key)")
    parser.add_argument("--upload", action="store_true",
                        help="upload the new submission to the grader server (competition.upload's URL and token)")
    parser.add_argument("--track", choices=["mlflow"], help="log the run and the submission file to MLflow "
                        "(MLFLOW_TRACKING_URI says where; needs pip install 'competition[tracking]'), after both are "
                        "saved")
    parser.add_argument("-m", "--message", default="", help="a note stored with the graded or uploaded file")
    return parser


def choose_run(args: argparse.Namespace, comp: Competition) -> runs.Run:
    if args.run:
        return runs.load_run(args.run)
    if args.ensemble:
        members = [resolve_member(spec, args.runs_dir) for spec in args.ensemble]
        run, report = ensemble(members, args.method, args.runs_dir, comp.overview.metric)
        print(describe_ensemble(report, run))
        return run
    return obtain_run(args.model, comp, n_folds=args.folds, seed=args.seed, params=dict(args.param), limit=args.limit,
                      seeds=args.seeds, refit=args.refit, time_budget=args.time_budget, runs_dir=args.runs_dir,
                      workers=args.workers, scheduler=args.scheduler, say=print).run


def check_submittable(run: runs.Run, comp: Competition) -> None:
    """A run can be submitted for ``comp`` only when finished, and made on exactly its data."""
    if not run.finished:
        raise SubmissionError(f"{run.path}: unfinished run; finish it with python -m competition.cv --resume "
                              f"{run.path}")
    if run.config["data"]["fingerprint"] != comp.fingerprint:
        raise SubmissionError(f"{run.path}: made on other data than {comp.path} (data fingerprints differ)")
    runs.verify(run)


@cli.guarded
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.name is not None:  # before any cross-validation: a clash found after 20 minutes of CV helps nobody
        check_submission_name(args.name)
        if taken(args.out, args.name):
            raise SubmissionError(f"{args.out / args.name}.csv or .json already exists; choose another --name")
    if args.track:
        track.require()  # a missing MLflow is said before any cross-validation, not after
    cluster.require(args.workers, args.scheduler)  # and a missing Dask
    if args.upload:
        from .client.upload import resolve

        server = resolve(None, None)  # a missing URL or token, too
    comp = load_competition(args.data, min_class_rows=args.folds)
    run = choose_run(args, comp)
    check_submittable(run, comp)
    csv_path = submit(run, comp, out_dir=args.out, name=args.name)
    print(describe_submission(csv_path, run, comp))
    if args.report:
        print(f"report: {run_report(run.path, comp=comp)}")
    status = grade_files([csv_path], Grader(args.data), message=args.message) if args.grade else 0
    if args.upload:
        from .client.upload import describe_upload, upload

        print(describe_upload(csv_path, upload(csv_path, *server, args.message)))
    if args.track:
        track.log_runs([run], submission=csv_path)
    return status


if __name__ == "__main__":
    sys.exit(main())
