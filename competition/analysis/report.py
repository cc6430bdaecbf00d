"""Pictures of a run or of a competition's data, with a Markdown page linking them.

    python -m competition.report RUN_DIR [--out DIR]     # into RUN_DIR by default
    python -m competition.report --data DIR [--out DIR]  # into reports/<name>-data/ by default

For a run: learning curves per fold (Keras: loss and accuracy, train against validation;
XGBoost/LightGBM: validation loss per boosting round), the OOF confusion matrix (counts and
row-normalised), per-class precision/recall/F1 (chart and table), and the 25 most confident
OOF mistakes as an image grid titled ``true -> predicted (p)``. Grey or RGB images of any size
and labels of any type; class names come from the competition's ``classes.csv`` when it has one.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np

from .. import cli
from .. import runs
from ..data.loader import class_names, load_competition
from ..fsutil import begins_with, ensure_dir, write_picture, write_text_atomic
from ..data.records import Competition, CompetitionDataError

if TYPE_CHECKING:
    import pandas as pd

SCORES = ("precision", "recall", "F1")  # per class, in the chart and the table
RUN_FILES = ("report.md", "learning_curves.png", "confusion_matrix.png", "per_class.png", "mistakes.png")
DATA_FILES = ("report.md", "samples.png", "class_balance.png")
HEADINGS = ("# Report: ", "# Data: ")  # how every report.md drawn here begins: the mark that it may be redrawn


def report_folder(out: Path, names: tuple[str, ...], own: bool = False) -> Path:
    """``out``, created if need be; refused if it holds a ``report.md`` not drawn here, or (without
    one of ours, and unless the folder is ``own``: a run folder, whose pictures are the toolkit's)
    any of the pictures a report would draw over."""
    out = ensure_dir(out, "report folder")
    page = out / "report.md"
    if page.exists() and not begins_with(page, HEADINGS):
        raise runs.RunError(f"{page}: exists and is not a report drawn by competition.report; it is left "
                            "untouched (choose another --out)")
    if not page.exists() and not own:
        taken = [out / name for name in names if (out / name).exists()]
        if taken:
            raise runs.RunError(f"{taken[0]}: exists and was not drawn with a report here; it is left untouched "
                                "(choose another --out)")
    return out


def pyplot():
    """matplotlib's pyplot on the Agg backend (files, no window), imported when a picture is drawn: it
    takes most of a second that ``report --help`` need not wait."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def show(ax, image: np.ndarray) -> None:
    """An (H, W, C) uint8 image: grey with a grey colour map, else as colour."""
    if image.shape[2] < 3:  # grey, or grey + alpha
        ax.imshow(image[:, :, 0], cmap="gray", vmin=0, vmax=255)
    else:  # RGB, or RGB + alpha
        ax.imshow(image[:, :, :3])
    ax.set_xticks([])
    ax.set_yticks([])


def learning_curves(histories: dict, path: Path) -> Path | None:
    """Keras: loss and accuracy per epoch, train solid and validation dashed (when the model held
    rows out), one colour a fold. Boosting: validation log loss per round."""
    plt = pyplot()
    folds = {k: h for k, h in histories.items() if h and (h.get("val_loss") or h.get("loss"))}
    if not folds:
        return None
    keras_style = any("loss" in h for h in folds.values())
    panels = [("loss", "log loss"), ("accuracy", "accuracy")] if keras_style else [("loss", "validation log loss")]
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
    for (metric, label), ax in zip(panels, axes[0]):
        for n, (fold, h) in enumerate(sorted(folds.items())):
            colour = f"C{n}"
            if metric in h:
                ax.plot(range(1, len(h[metric]) + 1), h[metric], color=colour, label=f"fold {fold} train")
            if f"val_{metric}" in h:
                ax.plot(range(1, len(h[f"val_{metric}"]) + 1), h[f"val_{metric}"], color=colour, linestyle="--",
                        label=f"fold {fold} validation")
        ax.set(xlabel="epoch" if keras_style else "boosting round", ylabel=label, title=label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
    watched = any("val_loss" in h for h in folds.values())
    fig.suptitle("learning curves (validation: a split of each fold's training rows)" if watched else
                 "learning curves (training rows, augmented; the fold's held-out rows are scored once, at the end)")
    fig.tight_layout()
    return write_picture(path, fig)


def confusion_figure(matrix: np.ndarray, names: list[str], path: Path) -> Path:
    plt = pyplot()
    normalised = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = max(6, 0.55 * len(names) + 3)
    fig, axes = plt.subplots(1, 2, figsize=(2 * size, size))
    for ax, values, title, fmt in [(axes[0], matrix, "counts", "d"),
                                   (axes[1], normalised, "share of each true class", ".2f")]:
        ax.imshow(values, cmap="Blues")
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
        ax.set_yticks(range(len(names)), names)
        ax.set(xlabel="predicted", ylabel="true", title=f"OOF confusion matrix: {title}")
        if len(names) <= 20:
            threshold = values.max() / 2
            for i in range(len(names)):
                for j in range(len(names)):
                    ax.text(j, i, format(values[i, j], fmt), ha="center", va="center", fontsize=7,
                            color="white" if values[i, j] > threshold else "black")
    fig.tight_layout()
    return write_picture(path, fig)


def per_class_figure(table: pd.DataFrame, path: Path) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(7, 0.7 * len(table) + 2), 4.5))
    positions = np.arange(len(table))
    for offset, column in zip((-0.27, 0, 0.27), SCORES):
        ax.bar(positions + offset, table[column], width=0.27, label=column)
    ax.set_xticks(positions, table["class"], rotation=45, ha="right")
    ax.set(ylim=(max(0, table[list(SCORES)].to_numpy().min() - 0.1), 1), title="per-class OOF scores")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    return write_picture(path, fig)


def mistakes_figure(comp: Competition, oof: np.ndarray, y: np.ndarray, names: list[str], path: Path,
                    count: int = 25) -> tuple[Path, list[int]]:
    """The ``count`` OOF rows predicted wrong with the highest confidence."""
    plt = pyplot()
    used = np.flatnonzero(~np.isnan(oof[:, 0]))
    predicted = np.argmax(oof[used], axis=1)
    wrong = used[predicted != y[used]]
    confidence = oof[wrong].max(axis=1)
    chosen = wrong[np.argsort(-confidence, kind="stable")[:count]]
    columns = 5
    rows = max(1, int(np.ceil(len(chosen) / columns)))
    fig, axes = plt.subplots(rows, columns, figsize=(2.4 * columns, 2.6 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, row in zip(axes.flat, chosen):
        ax.axis("on")
        show(ax, comp.x_train[row])
        guess = int(np.argmax(oof[row]))
        ax.set_title(f"{names[y[row]]} -> {names[guess]} ({oof[row, guess]:.2f})", fontsize=8)
    fig.suptitle("most confident OOF mistakes: true -> predicted (probability)")
    fig.tight_layout()
    return write_picture(path, fig), chosen.tolist()


def per_class_table(y: np.ndarray, predicted: np.ndarray, names: list[str]) -> pd.DataFrame:
    labels = np.arange(len(names))
    """Precision, recall and F1 of each class. Not one-vs-rest accuracy: with ten classes it reads
    0.97-0.998 for every class (the other nine's rows are mostly right), hiding a recall of 0.80."""
    import pandas as pd
    from sklearn.metrics import precision_recall_fscore_support

    precision, recall, f1, support = precision_recall_fscore_support(y, predicted, labels=labels, zero_division=0)
    return pd.DataFrame({"class": names, "precision": precision, "recall": recall, "F1": f1, "support": support})


def markdown_table(table: pd.DataFrame) -> list[str]:
    lines = ["| class | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
    for row in table.itertuples(index=False):
        lines.append(f"| {row[0]} | {row[1]:.4f} | {row[2]:.4f} | {row[3]:.4f} | {row[4]} |")
    return lines


def run_report(run_dir: str | Path, out: str | Path | None = None, comp: Competition | None = None) -> Path:
    """Draw the pictures of a finished run and write ``report.md``; return its path."""
    from sklearn.metrics import confusion_matrix

    run = runs.load_run(run_dir)
    if not run.finished:
        raise runs.RunError(f"{run.path}: unfinished run; nothing to report yet")
    out = report_folder(Path(out) if out else run.path, RUN_FILES, own=not out)
    oof, y = run.oof(), run.labels()
    used = ~np.isnan(oof[:, 0])
    names = class_names(Path(run.config["data"]["path"]), run.classes)
    predicted = np.argmax(oof[used], axis=1)
    matrix = confusion_matrix(y[used], predicted, labels=np.arange(len(names)))
    table = per_class_table(y[used], predicted, names)
    s = run.scores
    lines = [f"# Report: {run.name}", "",
             f"{run.config['model']}, {run.config['folds']}-fold CV accuracy {s['accuracy_mean']:.4f} ± "
             f"{s['accuracy_std']:.4f}, OOF accuracy {s['oof_accuracy']:.4f} on {s['oof_rows']:,} rows, "
             f"OOF log loss {s['oof_log_loss']:.4f}.", ""]
    histories_path = run.path / runs.HISTORIES
    histories = json.loads(histories_path.read_text()) if histories_path.is_file() else {}
    curves = learning_curves(histories, out / "learning_curves.png")
    lines += ["## Learning curves", "", f"![learning curves]({curves.name})" if curves else
              "This model has no training history (it is not trained in epochs or boosting rounds).", ""]
    confusion_figure(matrix, names, out / "confusion_matrix.png")
    lines += ["## Confusion matrix (OOF)", "", "![confusion matrix](confusion_matrix.png)", "",
              "| true \\ predicted | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    lines += [f"| {names[i]} | " + " | ".join(str(v) for v in matrix[i]) + " |" for i in range(len(names))]
    per_class_figure(table, out / "per_class.png")
    lines += ["", "## Per-class scores (OOF)", "", "![per-class scores](per_class.png)", "", *markdown_table(table), ""]
    comp = comp or _load_matching(run)
    if comp is not None:
        _, rows = mistakes_figure(comp, oof, y, names, out / "mistakes.png")
        lines += ["## Most confident mistakes", "", "![most confident mistakes](mistakes.png)", "",
                  "Rows of train.csv (ids): " + ", ".join(str(comp.train_ids[r]) for r in rows), ""]
    else:
        lines += ["## Most confident mistakes", "", "The run's data is not available here, so no images.", ""]
    report = out / "report.md"
    write_text_atomic(report, "\n".join(lines))
    return report


def _load_matching(run: runs.Run) -> Competition | None:
    try:
        comp = load_competition(run.config["data"]["path"])
    except CompetitionDataError:
        return None
    return comp if comp.fingerprint == run.config["data"]["fingerprint"] else None


def data_report(data_dir: str | Path, out: str | Path | None = None, per_class: int = 8, seed: int = 0) -> Path:
    """Sample images of each class and the class balance of the training set."""
    plt = pyplot()
    comp = load_competition(data_dir)
    out = Path(out) if out else Path("reports") / f"{comp.name}-data"
    out = report_folder(out, DATA_FILES)
    names = class_names(Path(data_dir), comp.classes.tolist())
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(len(names), per_class, figsize=(1.3 * per_class + 1.5, 1.4 * len(names)), squeeze=False)
    for k, label in enumerate(comp.classes):
        rows = np.flatnonzero(comp.y_train == label)
        picked = rng.choice(rows, size=min(per_class, len(rows)), replace=False)
        for j, ax in enumerate(axes[k]):
            ax.axis("off")
            if j < len(picked):
                show(ax, comp.x_train[picked[j]])
        axes[k][0].axis("on")
        axes[k][0].set_ylabel(names[k], rotation=0, ha="right", va="center", fontsize=9)
        for side in ("top", "right", "bottom", "left"):
            axes[k][0].spines[side].set_visible(False)
    fig.suptitle(f"{comp.name}: {per_class} random training images per class")
    fig.tight_layout()
    write_picture(out / "samples.png", fig)
    counts = np.array([(comp.y_train == label).sum() for label in comp.classes])
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(names) + 2), 4))
    ax.bar(names, counts, color="tab:blue")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set(ylabel="training images", title=f"class balance ({len(comp.y_train):,} training images)")
    fig.tight_layout()
    write_picture(out / "class_balance.png", fig)
    lines = [f"# Data: {comp.name}", "", f"{len(comp.y_train):,} training and {len(comp.test_ids):,} test images, "
             f"{comp.image_shape[1]}x{comp.image_shape[0]}, {comp.image_shape[2]} channel(s), "
             f"{len(names)} classes.", "",
             "![samples](samples.png)", "", "![class balance](class_balance.png)", "",
             "| class | training images | share |", "|---|---:|---:|"]
    lines += [f"| {n} | {c:,} | {c / counts.sum():.1%} |" for n, c in zip(names, counts)]
    report = out / "report.md"
    write_text_atomic(report, "\n".join(lines) + "\n")
    return report


@cli.guarded
def main(argv: list[str] | None = None) -> int:
    parser = cli.ArgumentParser(prog="python -m competition.report",
                                     description="Draw a run's learning curves, confusion matrix, per-class scores and "
                                                 "mistakes, or a competition's sample images and class balance.")
    parser.add_argument("run", nargs="?", type=Path, metavar="RUN_DIR", help="a finished run folder")
    parser.add_argument("--data", type=Path, help="report on this competition folder's training data instead")
    parser.add_argument("--out", type=Path, help="output folder (default RUN_DIR, or reports/<name>-data for --data)")
    args = parser.parse_args(argv)
    if bool(args.run) == bool(args.data):
        parser.error("give either RUN_DIR or --data DIR")
    report = data_report(args.data, args.out) if args.data else run_report(args.run, args.out)
    print(f"wrote {report} and its pictures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
