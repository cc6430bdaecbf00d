"""Adversarial validation: can a classifier tell the training images from the test images?

    python -m competition.shift [--data DIR] [--model lgbm] [--param k=v ...] [--folds 5] [--seed 87]
                                [--limit N] [--top N] [--out DIR | --runs-dir runs]
                                [--workers N | --scheduler ADDRESS]

The train and test images are stacked and labelled 0 (train) and 1 (test); a model is
cross-validated on stratified folds of that stack (``cv.crossval.cross_validate``, the folds of
``folds.make_folds``), so every image gets an out-of-fold P(test). The ROC AUC of those
probabilities says how far CV scores can be trusted: about 0.5, the two sets look alike; near 1,
they do not, and a CV score measures the model on images unlike the ones it will be graded on.

Two layers, as in ``cv``: ``adversarial_validate(estimator, x_train, x_test, ...)`` is pure and
returns a ``ShiftResult`` in memory; the command saves a new folder (``runs/<time>-shift`` or
``--out``, built beside and renamed into place) holding

    test_like_train.csv  the --top training rows with the highest P(test), most test-like first
                         (id, class, row in train.csv, p_test): a validation subset like the test set
    shift.json           AUC (per fold, mean, std, pooled out-of-fold), verdict, settings, data fingerprint
    extremes.png         the training and test images with the highest and the lowest P(test)
    report.md            the AUC, what it means, the picture, how to use the CSV
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
from tqdm import tqdm

from . import cli, runs
from .cv import cluster
from .cv.crossval import cross_validate
from .cv.folds import FoldsError, make_folds
from .data.loader import load_competition
from .data.records import Competition
from .errors import InputError
from .fsutil import new_dir, write_json_atomic, write_text_atomic
from .models import MODELS, make_model, model_name, public_params
from .runs import provenance

if TYPE_CHECKING:  # pandas is imported where a table is made, not when a command reads its options
    import pandas as pd

DEFAULT_MODEL = "lgbm"
# Telling train from test needs far fewer rounds than telling ten classes apart: early stopping
# ends an unshifted run within a few dozen, and a shifted one is found in a hundred. Overridden by --param.
QUICK = {"lgbm": {"n_estimators": 100}, "xgb": {"n_estimators": 100}}
ALIKE, STRONG = 0.6, 0.8  # rules of thumb for the AUC: below ALIKE the sets look alike, above STRONG CV misleads
PER_ROW = 8  # images per row of extremes.png
CSV, JSON, PICTURE, REPORT = "test_like_train.csv", "shift.json", "extremes.png", "report.md"


@dataclass
class ShiftResult:
    """An adversarial validation in memory. Rows are the stacked images: training rows first (in
    train.csv order), then test rows (in test_sample.csv order)."""

    p_test: np.ndarray  # (n_train + n_test,) out-of-fold P(test); NaN for rows left out by a limit
    is_test: np.ndarray  # (n_train + n_test,) bool: the label the classifier was asked to learn
    folds: np.ndarray  # (n_train + n_test,) each row's fold, -1: left out
    fold_auc: list[float]  # ROC AUC of each fold's held-out rows
    auc: float  # ROC AUC of every used row's out-of-fold P(test) at once

    @property
    def n_train(self) -> int:
        return int((~self.is_test).sum())

    @property
    def auc_mean(self) -> float:
        return float(np.mean(self.fold_auc))

    @property
    def auc_std(self) -> float:
        return float(np.std(self.fold_auc))

    @property
    def p_train_rows(self) -> np.ndarray:
        """P(test) of each training image (train.csv order)."""
        return self.p_test[: self.n_train]

    @property
    def p_test_rows(self) -> np.ndarray:
        """P(test) of each test image (test_sample.csv order)."""
        return self.p_test[self.n_train :]

    def used(self, test: bool) -> int:
        """How many training (or test) rows took part (all of them unless a limit sampled them)."""
        return int(((self.folds >= 0) & (self.is_test == test)).sum())


def fold_auc(result: runs.FoldResult, is_test: np.ndarray) -> float:
    """ROC AUC of one fold's held-out rows (stratified folds hold both kinds)."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(is_test[result.rows], result.proba[:, 1]))


def adversarial_validate(estimator, x_train: np.ndarray, x_test: np.ndarray, *, n_folds: int = cli.FOLDS,
                         seed: int = cli.SEED, limit: int | None = None, executor=None,
                         on_fold: Callable[[int, float], None] | None = None) -> ShiftResult:
    """Cross-validate ``estimator`` at telling ``x_test`` from ``x_train`` (labels 0 = train,
    1 = test) on ``n_folds`` stratified folds; ``limit``: a sample of that many rows, stratified
    over train and test. ``executor`` and the folds are ``cv.crossval.cross_validate``'s, so a Dask
    cluster runs them as it runs any CV; ``on_fold(fold, auc)`` is called as each fold completes."""
    from sklearn.metrics import roc_auc_score

    x = np.concatenate([x_train, x_test])
    is_test = np.repeat([0, 1], [len(x_train), len(x_test)])
    if limit is not None and limit >= len(x):
        limit = None
    folds = make_folds(is_test, n_folds, seed, limit)
    sides = np.bincount(is_test[folds >= 0], minlength=2)
    if sides.min() < n_folds:  # a fold without test (or train) images has no AUC
        sample = f"a sample of {limit} of {len(x)} images" if limit else f"{len(x)} images"
        raise FoldsError(f"cannot split {sample} into {n_folds} stratified folds: it holds {sides[0]} train and "
                         f"{sides[1]} test images, and each side needs at least {n_folds} (one per fold)")

    def fold_done(result: runs.FoldResult) -> None:
        if on_fold is not None:
            on_fold(result.fold, fold_auc(result, is_test))

    result = cross_validate(estimator, x, is_test, x[:0], folds, classes=np.array([0, 1]), executor=executor,
                            on_fold=fold_done)
    p_test = result.oof[:, 1]
    used = folds >= 0
    return ShiftResult(p_test=p_test, is_test=is_test.astype(bool), folds=folds,
                       fold_auc=[fold_auc(r, is_test) for r in result.folds],
                       auc=float(roc_auc_score(is_test[used], p_test[used])))


def verdict(auc: float) -> str:
    """One line on what an AUC means for CV (the thresholds are rules of thumb, not a test)."""
    if auc < ALIKE:
        return f"train and test look alike (AUC < {ALIKE}): CV scores should carry over to the test set"
    if auc <= STRONG:
        return (f"some shift (AUC {ALIKE}-{STRONG}): CV may be optimistic; validate on the most test-like "
                "training rows as well")
    return f"strong shift (AUC > {STRONG}): a classifier tells train from test, so CV will mislead"


def ranked(p: np.ndarray) -> np.ndarray:
    """Rows with a probability, highest first (ties in row order); rows left out (NaN) are dropped."""
    rows = np.flatnonzero(~np.isnan(p))
    return rows[np.argsort(-p[rows], kind="stable")]


def shift_model(name: str, params: dict[str, Any]):
    """The model ``name`` with the quick settings of ``QUICK``, then the user's ``params``; an
    impossible one raises ``ParameterError`` before any data is read."""
    return make_model(name, **{**QUICK.get(name, {}), **params})


def most_test_like(comp: Competition, p_train: np.ndarray, top: int) -> pd.DataFrame:
    """The ``top`` training rows with the highest P(test): id and class as train.csv names and
    writes them, the row in train.csv (0-based) and P(test)."""
    import pandas as pd

    rows = ranked(p_train)[:top]
    return pd.DataFrame({comp.id_column: comp.train_ids[rows], comp.label_column: comp.y_train[rows],
                         "row": rows, "p_test": p_train[rows]})


def extremes_figure(x_train: np.ndarray, x_test: np.ndarray, result: ShiftResult, path: Path,
                    per_row: int = PER_ROW) -> Path:
    """Four rows of images, each titled with its P(test): the training images most and least like
    the test set (highest and lowest P(test)), then the test images. Any size and channel count."""
    from .analysis.report import pyplot, show
    from .fsutil import write_picture

    plt = pyplot()

    groups = []
    for name, images, p in (("train", x_train, result.p_train_rows), ("test", x_test, result.p_test_rows)):
        order = ranked(p)
        groups.append((f"{name}, most\ntest-like", images, p, order[:per_row]))
        groups.append((f"{name}, most\ntrain-like", images, p, order[::-1][:per_row]))
    height, width = x_train.shape[1:3]
    cell = 1.4, 1.4 * min(max(height / width, 0.5), 2.0)  # inches per image, whatever the images' aspect
    fig, axes = plt.subplots(len(groups), per_row, figsize=(cell[0] * per_row + 1.6, (cell[1] + 0.35) * len(groups)),
                             squeeze=False)
    for (label, images, p, rows), line in zip(groups, axes):
        for ax in line:
            ax.axis("off")
        for ax, row in zip(line, rows):
            ax.axis("on")
            show(ax, images[row])
            ax.set_title(f"{p[row]:.3f}", fontsize=8)
        line[0].axis("on")
        line[0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
        for side in ("top", "right", "bottom", "left"):
            line[0].spines[side].set_visible(False)
    fig.suptitle(f"training and test images by their out-of-fold P(test) (above each), ROC AUC {result.auc_mean:.3f}",
                 fontsize=10)
    fig.tight_layout()
    return write_picture(path, fig)


def report_text(comp: Competition, result: ShiftResult, settings: dict, top_rows: int, csv_path: Path) -> str:
    """``report.md``: the AUC, what it means, the picture, and how to use the CSV (``csv_path``: where
    it will be, as seen from where the command ran, like the data folder's path)."""
    folds = ", ".join(f"{a:.3f}" for a in result.fold_auc)
    id_column = comp.id_column
    return "\n".join([
        f"# Shift: {comp.name}", "",
        f"Adversarial validation: `{settings['model']}` learned to tell the {result.used(False):,} training images "
        f"from the {result.used(True):,} test images on {settings['folds']} stratified folds.", "",
        f"**ROC AUC {result.auc_mean:.3f} ± {result.auc_std:.3f}** (per fold {folds}; all out-of-fold "
        f"probabilities at once {result.auc:.3f}).", "",
        f"Verdict: {verdict(result.auc_mean)}. Rule of thumb: below {ALIKE} the two sets look alike and CV "
        f"scores carry over; {ALIKE}-{STRONG} some shift; above {STRONG} a classifier tells them apart, so a "
        "CV score measures the model on images unlike those it will be graded on.", "",
        f"![training and test images with the highest and lowest P(test)]({PICTURE})", "",
        "## A validation subset like the test set", "",
        f"`{CSV}` holds the {top_rows:,} training rows with the highest out-of-fold P(test), most test-like "
        f"first: `{id_column}` and `{comp.label_column}` as in train.csv, `row` (0-based row of train.csv) and "
        "`p_test`. Train on the other rows and score on these (or on the first N of them) as a holdout "
        "that resembles the test set:", "",
        "```python",
        "import numpy as np, pandas as pd",
        "from competition.data.loader import load_competition",
        f"comp = load_competition({str(comp.path)!r})",
        f"holdout = np.isin(comp.train_ids, pd.read_csv({str(csv_path)!r}, dtype=str)[{id_column!r}])",
        "x_fit, y_fit = comp.x_train[~holdout], comp.y_train[~holdout]",
        "x_val, y_val = comp.x_train[holdout], comp.y_train[holdout]",
        "```", "",
        f"When the AUC is near 0.5 the order is mostly noise and this subset is about a random one; it "
        "matters when the AUC is high. Settings and the data fingerprint are in "
        f"[{JSON}]({JSON}).", ""])


def save_outputs(folder: Path, comp: Competition, result: ShiftResult, settings: dict, top: int,
                 final: Path) -> None:
    """Write the CSV, the picture, the JSON and the page into ``folder`` (to be renamed ``final``)."""
    table = most_test_like(comp, result.p_train_rows, top)
    write_text_atomic(folder / CSV, table.to_csv(index=False, float_format="%.6f", lineterminator="\n"))
    extremes_figure(comp.x_train, comp.x_test, result, folder / PICTURE)
    summary = {
        "auc_mean": result.auc_mean, "auc_std": result.auc_std, "auc_pooled": result.auc,
        "fold_auc": result.fold_auc, "verdict": verdict(result.auc_mean),
        "rows": {"train": result.used(False), "test": result.used(True)}, "test_like_rows": len(table),
        **settings,
    }
    write_json_atomic(folder / JSON, summary)
    write_text_atomic(folder / REPORT, report_text(comp, result, settings, len(table), final / CSV))


def publish(final: Path, write: Callable[[Path], None], *, made_final: bool = False) -> Path:
    """Build the output folder beside ``final`` and rename it into place (``fsutil.new_dir``), so
    that nobody (and no crash) sees it half-written. ``final`` must be missing or an empty folder,
    also at the rename: one that has gained files meanwhile stays as it is.
    ``made_final``: ``final`` is an empty folder made for this run, removed again on failure."""
    try:
        with new_dir(final, "--out") as work:
            write(work)
    except BaseException:
        if made_final:
            try:
                final.rmdir()
            except OSError:
                pass
        raise
    return final


def check_out(out: Path) -> Path:
    """``--out`` must be a new or an empty folder: nothing the user has is replaced."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: is a file; name a new or empty folder")
    if out.is_dir() and any(out.iterdir()):
        raise InputError(f"--out {out}: exists and is not empty; it is left untouched (name a new or empty folder)")
    for parent in out.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"--out {out}: cannot be created ({parent} is a file)")
            break
    return out


def make_settings(model: str, estimator, params: dict, args: argparse.Namespace, comp: Competition,
                  seconds: float) -> dict:
    return {
        "model": model, "params": public_params(estimator), "overrides": params,
        "quick_defaults": QUICK.get(model, {}), "folds": args.folds, "seed": args.seed, "limit": args.limit,
        "data": {"path": str(comp.path.resolve()), "name": comp.name, "fingerprint": comp.fingerprint,
                 "train_rows": len(comp.train_ids), "test_rows": len(comp.test_ids),
                 "image_shape": list(comp.image_shape)},
        "seconds": round(seconds, 1), **provenance.record(),
    }


def build_parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(
        prog="python -m competition.shift",
        description="Adversarial validation: train a classifier to tell training images from test images on "
                    "stratified folds and print its ROC AUC (about 0.5: they look alike; near 1: they do not, and "
                    "CV will mislead). Saves the most test-like training rows as a CSV (a validation subset), a "
                    "picture of the most train-like and test-like images and a report.md in a new folder.",
        epilog="example: python -m competition.shift --data data/fashion-mnist --limit 20000 --top 5000")
    cli.add_data(parser)
    parser.add_argument("--model", default=DEFAULT_MODEL, type=model_name, choices=list(MODELS), metavar="NAME",
                        help=f"the classifier (default {DEFAULT_MODEL}; any of python -m competition.cv --list); "
                             + ", ".join(f"{m} starts from {', '.join(f'{k}={v}' for k, v in p.items())}"
                                         for m, p in QUICK.items()))
    cli.add_param(parser)
    cli.add_folds(parser)
    cli.add_seed(parser)
    cli.add_limit(parser, rows="images, stratified over train and test,", minimum=2)
    parser.add_argument("--top", type=cli.int_at_least(1), default=None, metavar="N",
                        help="training rows in the CSV, most test-like first (default: one fold's share of the "
                             "training rows, as many as a CV holdout)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--out", type=Path, metavar="DIR", help="output folder; must be new or empty")
    cli.add_runs_dir(where, also=", where the new <time>-shift folder goes without --out")
    cli.add_cluster(parser)
    return parser


@cli.guarded
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    params = dict(args.param)
    estimator = shift_model(args.model, params)  # before a cluster starts or any data is read
    cluster.require(args.workers, args.scheduler)  # a missing Dask too
    if args.out is not None:
        check_out(args.out)
    elif args.runs_dir.exists() and not args.runs_dir.is_dir():  # made only once there is something to save
        raise InputError(f"runs folder {args.runs_dir}: is a file, not a folder")
    comp = load_competition(args.data, min_class_rows=1)  # the folds split train from test, not the classes
    start = time.perf_counter()
    bar = tqdm(total=args.folds, desc=f"{args.model} train vs test", unit="fold", file=sys.stdout)
    aucs: list[float] = []

    def fold_done(fold: int, auc: float) -> None:
        aucs.append(auc)
        bar.set_postfix(auc=f"{np.mean(aucs):.3f}", refresh=False)
        bar.update()

    try:
        with cluster.executor(args.workers, args.scheduler) as executor:
            result = adversarial_validate(estimator, comp.x_train, comp.x_test, n_folds=args.folds, seed=args.seed,
                                          limit=args.limit, executor=executor, on_fold=fold_done)
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    top = args.top or max(1, round(result.used(False) / args.folds))
    settings = make_settings(args.model, estimator, params, args, comp, seconds)
    final = args.out if args.out is not None else runs.new_run_dir(args.runs_dir, "shift")
    publish(final, lambda folder: save_outputs(folder, comp, result, settings, top, final), made_final=args.out is None)
    kept = min(top, result.used(False))
    print(f"{args.model} train vs test, {args.folds} folds over {result.used(False):,} train and "
          f"{result.used(True):,} test images: ROC AUC {result.auc_mean:.4f} +- {result.auc_std:.4f} "
          f"(pooled {result.auc:.4f}), {runs.format_seconds(seconds)}")
    print(f"verdict: {verdict(result.auc_mean)}")
    print(f"test-like training rows ({kept:,}, most test-like first): {final / CSV}")
    print(f"picture: {final / PICTURE}")
    print(f"report: {final / REPORT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
