"""The competition's metric: the registry against scikit-learn, competition.json, probability
submissions, and a board that ranks in the metric's direction."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk

from competition.grade import ledger, standings
from competition.grade.answer_key import AnswerKeyError
from competition.grade.grader import Grader
from competition.grade.local import grade_file
from competition.data import metrics, overview
from competition.data.loader import load_competition, summary
from competition.errors import InputError, InputWarning
from competition.grade.leaderboard import main as leaderboard_main
from competition.grade.leaderboard import write_leaderboard
from competition.grade.__main__ import main as grade_main
from competition.prepare.__main__ import main as prepare_main
from competition.submit import main as submit_main
from competition.data.loader import main as data_main
from competition.prepare.fashion import prepare
from competition.grade.validate import SubmissionError, read_sample, validate_submission
from tests.helpers import in_process

LABEL_METRICS = ["accuracy", "balanced_accuracy", "f1_macro", "f1_weighted", "mcc", "cohen_kappa_quadratic"]
PROBABILITY_METRICS = ["log_loss", "roc_auc_ovr"]


def sklearn_score(name: str, truth, predicted, n_classes: int) -> float:
    """The metric as scikit-learn's documentation writes the call (what a host would compute)."""
    return {
        "accuracy": lambda: sk.accuracy_score(truth, predicted),
        "balanced_accuracy": lambda: sk.balanced_accuracy_score(truth, predicted),
        "f1_macro": lambda: sk.f1_score(truth, predicted, average="macro"),
        "f1_weighted": lambda: sk.f1_score(truth, predicted, average="weighted"),
        "mcc": lambda: sk.matthews_corrcoef(truth, predicted),
        "cohen_kappa_quadratic": lambda: sk.cohen_kappa_score(truth, predicted, weights="quadratic"),
        "log_loss": lambda: sk.log_loss(truth, np.clip(predicted, 1e-15, 1 - 1e-15)
                                        / np.clip(predicted, 1e-15, 1 - 1e-15).sum(axis=1, keepdims=True),
                                        labels=list(range(n_classes))),
        "roc_auc_ovr": lambda: sk.roc_auc_score(truth, predicted, multi_class="ovr"),
    }[name]()


# --- the registry on hand-made cases -------------------------------------------------------------

TRUTH = np.array([0, 0, 1, 1, 2, 2, 2, 3, 3, 3, 3, 1])
GUESS = np.array([0, 1, 1, 1, 2, 0, 2, 3, 2, 3, 1, 1])


@pytest.mark.parametrize("name", LABEL_METRICS)
def test_label_metrics_equal_scikit_learn_on_a_hand_made_case(name):
    value = metrics.get(name).score(TRUTH, GUESS, 4)
    assert value == pytest.approx(sklearn_score(name, TRUTH, GUESS, 4), abs=1e-12)
    assert value != pytest.approx(metrics.get(name).score(TRUTH, TRUTH, 4)), "a worse guess scores otherwise"


def test_accuracy_by_hand():
    assert metrics.get("accuracy").score(TRUTH, GUESS, 4) == pytest.approx(8 / 12)


def test_kappa_orders_classes_as_the_loader_sorts_labels_not_as_text():
    """Labels 2, 10, 33 are numbers: 2 < 10 < 33, although "10" < "2" as text. A guess of 10 for
    2 is one step off in the loader's order, two steps as text."""
    classes = [2, 10, 33]  # np.unique of train.csv's integer labels
    truth, guess = ["2", "2", "10", "33", "33", "10"], ["10", "2", "10", "33", "10", "33"]
    value = metrics.get("cohen_kappa_quadratic").score(metrics.encode(truth, classes),
                                                       metrics.encode(guess, classes), 3)
    assert value == pytest.approx(sk.cohen_kappa_score([int(t) for t in truth], [int(g) for g in guess],
                                                       weights="quadratic"))
    assert value != pytest.approx(sk.cohen_kappa_score(truth, guess, weights="quadratic")), "text order differs"


def test_log_loss_is_clipped_at_1e_15_and_equals_scikit_learn():
    proba = np.array([[1.0, 0.0, 0.0], [0.2, 0.7, 0.1], [0.0, 0.0, 1.0], [0.5, 0.25, 0.25]])
    truth = np.array([1, 1, 2, 0])  # the first row is a confident miss
    value = metrics.get("log_loss").score(truth, proba, 3)
    assert np.isfinite(value)
    assert value == pytest.approx(sklearn_score("log_loss", truth, proba, 3))
    expected = -(np.log(1e-15 / (1 + 2e-15)) + np.log(0.7) + np.log(1 - 1e-15) + np.log(0.5)) / 4
    assert value == pytest.approx(expected, rel=1e-9)


def test_roc_auc_equals_scikit_learn_and_two_classes_score_class_one():
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(4), size=40)
    truth = np.tile([0, 1, 2, 3], 10)
    assert (metrics.get("roc_auc_ovr").score(truth, proba, 4)
            == pytest.approx(sklearn_score("roc_auc_ovr", truth, proba, 4)))
    binary = np.column_stack([1 - proba[:, 0], proba[:, 0]])
    assert (metrics.get("roc_auc_ovr").score(truth % 2, binary, 2)
            == pytest.approx(sk.roc_auc_score(truth % 2, proba[:, 0])))


def test_label_metrics_score_the_argmax_of_probabilities():
    proba = np.eye(4)[GUESS] * 0.7 + 0.075
    for name in LABEL_METRICS:
        assert metrics.get(name).from_probabilities(TRUTH, proba) == metrics.get(name).score(TRUTH, GUESS, 4)


def test_directions_and_inputs():
    assert [m for m in metrics.REGISTRY if not metrics.get(m).higher_is_better] == ["log_loss"]
    assert [m for m in metrics.REGISTRY if metrics.get(m).needs == metrics.PROBABILITIES] == PROBABILITY_METRICS
    assert metrics.get("log_loss").better(0.3, 0.5) and metrics.get("f1_macro").better(0.5, 0.3)


def test_an_unknown_metric_is_refused_with_the_list():
    with pytest.raises(InputError, match="unknown metric 'auc'; known metrics: accuracy, balanced_accuracy, "
                                         "f1_macro, f1_weighted, mcc, cohen_kappa_quadratic, log_loss, roc_auc_ovr"):
        metrics.get("auc")


def test_ranking_helpers_follow_the_direction():
    entries = [{"public": 0.5, "time": "1"}, {"public": 0.2, "time": "2"}, {"public": 0.2, "time": "0"}]
    assert [e["time"] for e in standings.ranked(entries, higher_is_better=False)] == ["0", "2", "1"]
    assert [e["time"] for e in standings.ranked(entries, higher_is_better=True)] == ["1", "0", "2"]
    assert standings.rank(0.2, [0.5, 0.2, 0.2], higher_is_better=False) == 1
    assert standings.rank(0.2, [0.5, 0.2, 0.2], higher_is_better=True) == 2


# --- competition.json ------------------------------------------------------------------------------

def test_a_folder_without_competition_json_is_accuracy_on_labels(fashion_small, fashion_copy):
    assert json.loads((fashion_small / overview.FILE).read_text())["metric"] == "accuracy"  # prepare's default
    (fashion_copy / overview.FILE).unlink()  # as in every folder made before the file existed
    comp = load_competition(fashion_copy, cache=False)
    assert comp.overview == overview.Overview() and comp.overview.metric == "accuracy"
    assert "metric       accuracy (higher is better), submissions of labels" in summary(comp)
    grader = Grader(fashion_copy, solution_of(fashion_small, path=True))
    assert (grader.metric, grader.higher_is_better, grader.overview.submission) == ("accuracy", True, "labels")


@pytest.mark.parametrize("content, message", [
    ("{not json", "cannot be read as JSON"),
    ("[1]", "expected a JSON object, got list"),
    ('{"title": "x"}', "no 'metric' field"),
    ('{"metric": "auc"}', "field 'metric': unknown metric 'auc'; known metrics: accuracy,"),
    ('{"metric": "log_loss", "higher_is_better": true}',
     "field 'higher_is_better' is True, but metric log_loss has False"),
    ('{"metric": "f1_macro", "submission": "probabilities"}', "field 'submission' is 'probabilities', but metric "
                                                            "f1_macro has 'labels'"),
    ('{"metric": "f1_macro", "public_share": 1.5}', "field 'public_share' must be a number between 0 and 1"),
    ('{"metric": "f1_macro", "colour": "red"}', "unknown field 'colour'"),
])
def test_a_bad_competition_json_is_one_line_naming_the_file(fashion_copy, content, message):
    (fashion_copy / overview.FILE).write_text(content)
    with pytest.raises(InputError, match="competition.json: " + message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[")):
        load_competition(fashion_copy, cache=False)
    result = in_process(data_main, "check", fashion_copy)
    assert (result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
            and "competition.json" in result.stderr)


def test_a_probability_metric_needs_a_column_per_class_in_the_sample(fashion_copy):
    (fashion_copy / overview.FILE).write_text('{"metric": "log_loss"}')
    with pytest.raises(InputError, match=r"test_sample.csv: metric log_loss scores probabilities, so the sample "
                                         r"needs 'id' and one column per class \(0, 1, .*; missing 0, 1,"):
        load_competition(fashion_copy, cache=False)


@pytest.fixture(scope="module")
def log_loss_comp(tmp_path_factory, fashion_source):
    """A competition built by ``prepare --metric log_loss`` (400 test rows, so that every class is
    among the public ones)."""
    out = tmp_path_factory.mktemp("metric") / "fashion-logloss"
    prepare(out, limit_train=200, limit_test=400, seed=5, metric="log_loss", title="Fashion by log loss")
    return out


def test_prepare_declares_the_metric_in_both_folders_and_writes_a_probability_sample(log_loss_comp):
    grader_folder = log_loss_comp.with_name(log_loss_comp.name + ".grader")
    for folder in (log_loss_comp, grader_folder):
        assert json.loads((folder / overview.FILE).read_text()) == {
            "title": "Fashion by log loss", "metric": "log_loss", "higher_is_better": False,
            "submission": "probabilities", "public_share": 0.3}
    sample = pd.read_csv(log_loss_comp / "test_sample.csv")
    assert list(sample.columns) == ["id"] + [str(k) for k in range(10)]
    assert np.allclose(sample.iloc[:, 1:].to_numpy(), 0.1)
    comp = load_competition(log_loss_comp)
    assert comp.overview.probabilities and comp.label_column == "class" and len(comp.test_ids) == 400
    assert "metric       log_loss (lower is better), submissions of probabilities" in summary(comp)


def test_prepare_refuses_an_unknown_metric_with_the_list(tmp_path):
    result = in_process(prepare_main, "--out", tmp_path / "x", "--metric", "auc")
    assert result.returncode != 0 and "log_loss" in result.stderr and not (tmp_path / "x").exists()


# --- the grader: the competition's metric on the public rows, ranked in its direction --------------

def solution_of(comp, path=False):
    key = comp.with_name(comp.name + ".grader") / "solution.csv"
    return key if path else pd.read_csv(key, dtype=str)


def declare(comp, tmp_path, metric):
    """A copy of ``comp`` (with its answer key) declaring ``metric``."""
    copy = tmp_path / f"{comp.name}-{metric}"
    shutil.copytree(comp, copy, ignore=shutil.ignore_patterns(".cache*"))
    shutil.copytree(comp.with_name(comp.name + ".grader"), copy.with_name(copy.name + ".grader"))
    overview.write(copy, overview.declare(metric))
    return copy


@pytest.mark.parametrize("name", LABEL_METRICS)
def test_the_grader_scores_labels_by_the_competitions_metric_on_public_rows_only(fashion_small, tmp_path, name):
    comp = declare(fashion_small, tmp_path, name)
    key = solution_of(comp)
    rng = np.random.default_rng(7)
    guess = np.where(rng.random(len(key)) < 0.6, key["class"].astype(int), rng.integers(0, 10, len(key)))
    path = tmp_path / "guess.csv"
    pd.DataFrame({"id": key["id"], "class": guess}).to_csv(path, index=False)
    grader = Grader(comp)
    entry = grade_file(grader, ledger.Ledger(tmp_path / "ledger.jsonl"), path)
    assert entry["status"] == "ok" and entry["metric"] == name
    for usage, score in (("Public", entry["public"]), ("Private", entry["private"])):
        part = key["Usage"] == usage
        truth = key["class"][part].astype(int).to_numpy()
        assert score == pytest.approx(sklearn_score(name, truth, guess[part.to_numpy()], 10), abs=1e-12), usage
    assert entry["public"] != pytest.approx(entry["private"])


def noisy_probabilities(key, seed, sharpness):
    """Probabilities leaning towards the true class by ``sharpness``."""
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.ones(10), size=len(key)) + sharpness * np.eye(10)[key["class"].astype(int)]
    return proba / proba.sum(axis=1, keepdims=True)


def write_probabilities(path, key, proba, columns=None):
    table = pd.DataFrame(proba, columns=[str(k) for k in range(10)])
    table.insert(0, "id", key["id"])
    table[columns or table.columns].to_csv(path, index=False)
    return path


@pytest.mark.parametrize("name", PROBABILITY_METRICS)
def test_the_grader_scores_probabilities_by_the_competitions_metric(log_loss_comp, tmp_path, name):
    comp = log_loss_comp if name == "log_loss" else declare(log_loss_comp, tmp_path, name)
    key = solution_of(comp)
    proba = noisy_probabilities(key, 1, 0.8)
    path = write_probabilities(tmp_path / "p.csv", key, proba)
    entry = grade_file(Grader(comp), ledger.Ledger(tmp_path / "ledger.jsonl"), path)
    assert entry["status"] == "ok" and entry["metric"] == name
    for usage, score in (("Public", entry["public"]), ("Private", entry["private"])):
        part = (key["Usage"] == usage).to_numpy()
        assert score == pytest.approx(sklearn_score(name, key["class"][part].astype(int), proba[part], 10), rel=1e-6)


def test_a_lower_is_better_competition_ranks_ascending_on_the_local_board(log_loss_comp, tmp_path):
    key = solution_of(log_loss_comp)
    sharp = write_probabilities(tmp_path / "sharp.csv", key, noisy_probabilities(key, 2, 3.0))
    blunt = write_probabilities(tmp_path / "blunt.csv", key, noisy_probabilities(key, 3, 0.2))
    for path, cv in ((blunt, 1.9), (sharp, 0.6)):
        path.with_suffix(".json").write_text(json.dumps({
            "name": path.stem, "sha256": __import__("hashlib").sha256(path.read_bytes()).hexdigest(),
            "cv": {"accuracy_mean": 0.5, "accuracy_std": 0.01, "metric": "log_loss", "score_mean": cv,
                   "score_std": 0.02, "oof_rows": 200}}))
    board = tmp_path / "leaderboard.md"
    result = in_process(grade_main, blunt, sharp, "--data", log_loss_comp, "--ledger", tmp_path / "ledger.jsonl",
                      "--leaderboard", board)
    assert result.returncode == 0, result.stderr
    assert "sharp.csv: public log_loss" in result.stdout and "(rank 1 of 2)" in result.stdout.split("sharp.csv")[1]
    text = board.read_text()
    assert "ranked by public log_loss (lower is better)" in text and "| CV log_loss |" in text
    rows = [line for line in text.splitlines() if line.startswith("| 1") or line.startswith("| 2")]
    assert "[sharp]" in rows[0] and "[blunt]" in rows[1] and "0.6000 ± 0.0200" in rows[0]
    assert "1. **sharp** — best CV score" in text
    entries = ledger.read(tmp_path / "ledger.jsonl")
    assert [e["name"] for e in standings.files(entries, Grader(log_loss_comp).higher_is_better)] == ["sharp", "blunt"]
    redrawn = in_process(leaderboard_main, "--ledger", tmp_path / "ledger.jsonl", "--out", tmp_path / "again.md",
                       "--data", log_loss_comp)
    assert redrawn.returncode == 0, redrawn.stderr  # the board's metric read from the ledger (the key: intervals)
    drawn = lambda page: [line for line in page.split("\n")[2:] if not line.startswith("<!-- notes:")]  # noqa: E731
    assert drawn((tmp_path / "again.md").read_text().replace("again.png", "leaderboard.png")) == drawn(text)


def test_an_accuracy_board_still_ranks_descending(tmp_path):
    entries = [{"event": "grade", "status": "ok", "public": p, "time": t, "file": f"{n}.csv", "name": n,
                "sha256": n * 8, "metric": "accuracy"} for n, p, t in (("lo", 0.5, "1"), ("hi", 0.9, "2"))]
    board = write_leaderboard(entries, tmp_path / "leaderboard.md")
    rows = [line for line in board.read_text().splitlines() if line.startswith("| 1")]
    assert "[hi]" in rows[0]


def test_grade_metric_overrides_with_a_warning_and_only_within_the_format(fashion_small, log_loss_comp):
    with pytest.warns(InputWarning, match="--metric f1_macro overrides the competition's metric accuracy"):
        assert Grader(fashion_small, metric="f1_macro").metric == "f1_macro"
    with pytest.raises(InputError, match="--metric accuracy: scores labels, but .* declares log_loss on probabilities"):
        Grader(log_loss_comp, metric="accuracy")


def test_roc_auc_on_public_rows_without_every_class_is_refused_at_start(fashion_small, tmp_path):
    comp = declare(fashion_small, tmp_path, "roc_auc_ovr")
    key = solution_of(comp)
    key.loc[(key["Usage"] == "Public") & (key["class"] == "9"), "class"] = "8"  # no ankle boot among the public rows
    key.to_csv(solution_of(comp, path=True), index=False)
    sample = pd.read_csv(comp / "test_sample.csv")
    probs = pd.DataFrame({str(k): 0.1 for k in range(10)}, index=sample.index)
    pd.concat([sample[["id"]], probs], axis=1).to_csv(comp / "test_sample.csv", index=False)
    with pytest.raises(AnswerKeyError, match="metric roc_auc_ovr cannot score its Public or Private rows: "
                                                   "roc_auc_ovr is undefined on rows without class index 9"):
        Grader(comp)


# --- probability submissions -------------------------------------------------------------------------

IDS = ["a7", "b2", "c9"]
CLASSES = ["cat", "dog", "emu"]


@pytest.fixture
def proba_sample(tmp_path):
    path = tmp_path / "test_sample.csv"
    path.write_text("id,cat,dog,emu\n" + "".join(f"{i},0.3333,0.3333,0.3334\n" for i in IDS))
    return read_sample(path, probabilities=True)


def csv_bytes(header, rows):
    return (header + "\n" + "".join(",".join(row) + "\n" for row in rows)).encode()


GOOD = [["a7", "0.2", "0.3", "0.5"], ["b2", "1", "0", "0"], ["c9", "0.1", "0.8", "0.1"]]


def test_probabilities_are_read_in_class_order_and_renormalised_within_tolerance(proba_sample):
    rows = [*GOOD[:2], ["c9", "0.1", "0.8", "0.1009"]]  # sums to 1.0009: within 1e-3
    read = validate_submission(csv_bytes("id,cat,dog,emu", rows), proba_sample, CLASSES)
    assert np.allclose(read["a7"], [0.2, 0.3, 0.5]) and read["c9"].dtype == np.float64
    assert read["c9"].sum() == pytest.approx(1, abs=1e-15) and read["c9"][2] == pytest.approx(0.1009 / 1.0009)


def test_class_columns_in_another_order_are_accepted_and_reordered(proba_sample):
    reordered = [[row[0], row[3], row[1], row[2]] for row in GOOD]
    read = validate_submission(csv_bytes("emu,id,cat,dog", [[r[1], r[0], r[2], r[3]] for r in reordered]),
                               proba_sample, CLASSES)
    expected = validate_submission(csv_bytes("id,cat,dog,emu", GOOD), proba_sample, CLASSES)
    assert all(np.array_equal(read[i], expected[i]) for i in IDS)


@pytest.mark.parametrize("header, rows, message", [
    ("id,cat,dog,emu", [GOOD[0], ["b2", "0.5", "0.3", "0.1"], GOOD[2]],
     r"line 3 \(id 'b2'\): probabilities sum to 0.9, expected 1 \(within 0.001\)"),
    ("id,cat,dog,emu", [GOOD[0], GOOD[1], ["c9", "-0.1", "0.6", "0.5"]],
     r"line 4: -0.1 in column 'cat' is not a probability \(outside \[0, 1\]\)"),
    ("id,cat,dog,emu", [["a7", "NaN", "0.5", "0.5"], GOOD[1], GOOD[2]],
     r"line 2: 'NaN' in column 'cat' is not a number \(empty or NaN\)"),
    ("id,cat,dog,emu", [GOOD[0], ["b2", "lots", "0", "0"], GOOD[2]], r"line 3: 'lots' in column 'cat' is not a number"),
    ("id,cat,dog,emu", [GOOD[0], ["b2", "1.2", "0", "-0.2"], GOOD[2]],
     r"line 3: 1.2 in column 'cat' .*; 2 such values"),
    ("id,cat,emu", [r[:2] + r[3:] for r in GOOD], r"missing column\(s\) dog"),
    ("id,cat,dog,emu,yak", [r + ["0"] for r in GOOD], r"unexpected column\(s\) yak"),
    ("id,cat,dog,dog", GOOD, r"missing column\(s\) emu; duplicated column\(s\) dog"),
])
def test_bad_probability_files_are_refused_naming_the_place(proba_sample, header, rows, message):
    with pytest.raises(SubmissionError, match=message):
        validate_submission(csv_bytes(header, rows), proba_sample, CLASSES, source="sub.csv")


def test_a_label_file_is_refused_by_a_probability_competition(proba_sample):
    with pytest.raises(SubmissionError, match=r"expected columns id,cat,dog,emu \(in any order\), got id,class"):
        validate_submission(csv_bytes("id,class", [[i, "cat"] for i in IDS]), proba_sample, CLASSES)


def test_submit_writes_probabilities_that_the_grader_scores_by_log_loss(log_loss_comp, tmp_path):
    result = in_process(submit_main, "--model", "logreg", "--data", log_loss_comp, "--folds", "2", "--param",
                      "max_iter=30", "--name", "lr", "--runs-dir", tmp_path / "runs", "--out", tmp_path / "subs",
                      cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = pd.read_csv(tmp_path / "subs" / "lr.csv", dtype={"id": str})
    assert list(written.columns) == ["id"] + [str(k) for k in range(10)]
    assert np.allclose(written.iloc[:, 1:].sum(axis=1), 1, atol=1e-6)
    sidecar = json.loads((tmp_path / "subs" / "lr.json").read_text())["cv"]
    assert sidecar["metric"] == "log_loss" and len(sidecar["fold_scores"]) == 2 and "CV log_loss" in result.stdout
    assert sidecar["score_mean"] == pytest.approx(np.mean(sidecar["fold_scores"]))
    entry = grade_file(Grader(log_loss_comp), ledger.Ledger(tmp_path / "ledger.jsonl"),
                             tmp_path / "subs" / "lr.csv")
    key = solution_of(log_loss_comp)
    merged = key.merge(written, on="id")
    public = (merged["Usage"] == "Public").to_numpy()
    assert entry["public"] == pytest.approx(
        sklearn_score("log_loss", merged["class"][public].astype(int),
                      merged[[str(k) for k in range(10)]].to_numpy()[public], 10))
    assert ledger.cv_score(entry) == (sidecar["score_mean"], sidecar["score_std"])


# --- cv, runs --compare, ensembles and tune follow the metric ---------------------------------------

@pytest.fixture(scope="module")
def log_loss_runs(log_loss_comp, tmp_path_factory):
    """Two cross-validated trees of different depths on the log-loss competition."""
    from competition.cv import obtain

    comp = load_competition(log_loss_comp)
    runs_dir = tmp_path_factory.mktemp("runs")
    made = [obtain.run_cv("dt", comp, n_folds=3, params={"max_depth": depth}, runs_dir=runs_dir, progress=False)
            for depth in (2, 6)]
    return comp, runs_dir, made


def test_cv_scores_each_fold_and_the_oof_rows_by_the_competitions_metric(log_loss_runs):
    comp, _, (run, _) = log_loss_runs
    s, oof, y, folds = run.scores, run.oof(), run.labels(), run.folds()
    assert s["metric"] == "log_loss" and len(s["fold_scores"]) == 3
    for k, value in enumerate(s["fold_scores"]):
        assert value == pytest.approx(sklearn_score("log_loss", y[folds == k], oof[folds == k], 10))
        assert s["folds"][k]["accuracy"] == pytest.approx(np.mean(oof[folds == k].argmax(1) == y[folds == k]))
    assert s["score_mean"] == pytest.approx(np.mean(s["fold_scores"]))
    assert s["score_std"] == pytest.approx(np.std(s["fold_scores"]))
    assert s["oof_score"] == pytest.approx(sklearn_score("log_loss", y[folds >= 0], oof[folds >= 0], 10))
    assert {"accuracy_mean", "oof_accuracy", "oof_log_loss"} <= set(s)


def test_runs_compare_ranks_by_the_metric_in_its_direction(log_loss_runs):
    from competition import runs

    _, runs_dir, made = log_loss_runs
    table = runs.compare_table(made, "log_loss")
    assert list(table["score_mean"]) == sorted(run.scores["score_mean"] for run in made)  # ascending: lower is better
    assert table["score_mean"].iloc[0] < table["score_mean"].iloc[1]
    assert "cv log_loss" in runs.compare(runs.list_runs(runs_dir))
    assert runs.describe(made[0]).split("3-fold  ")[1].startswith(f"log_loss {made[0].scores['score_mean']:.4f} +- ")


@pytest.mark.parametrize("metric", ["log_loss", "f1_macro"])
def test_ensemble_weights_optimise_a_smooth_metric_else_log_loss_and_report_it(log_loss_runs, tmp_path, metric):
    from competition.cv.ensemble import ensemble

    _, _, members = log_loss_runs
    run, report = ensemble(members, "weights", tmp_path, metric)
    y, used = run.labels(), run.folds() >= 0
    assert report["weights_optimise"] == "log_loss" and report["metric"] == metric and run.scores["metric"] == metric
    for member, m in zip(members, report["members"]):
        assert m["oof_score"] == pytest.approx(sklearn_score(metric, y[used], member.oof()[used] if metric == "log_loss"
                                                             else member.oof()[used].argmax(1), 10))
    best = min(m["oof_log_loss"] for m in report["members"])
    assert run.scores["oof_log_loss"] <= best + 1e-9
    stacked, stack_report = ensemble(members, "stack", tmp_path, metric)
    assert stacked.scores["metric"] == metric and "oof_score" in stacked.scores


def test_tune_minimises_a_lower_is_better_metric(log_loss_runs, tmp_path):
    pytest.importorskip("optuna")
    from optuna.study import StudyDirection

    from competition import tune

    comp = log_loss_runs[0]
    tuned = tune.tune("dt", comp, n_folds=3, n_trials=4, runs_dir=tmp_path, progress=False)
    assert tuned.study.direction == StudyDirection.MINIMIZE and "-log_loss" in tuned.path.parent.name
    values = [t.value for t in tuned.study.trials if t.value is not None]
    assert tuned.best.value == min(values) and len(set(values)) > 1
    assert (tuned.run.scores["metric"] == "log_loss"
            and tuned.run.scores["score_mean"] == pytest.approx(tuned.best.value))
    assert "best log_loss" in tune.describe_study(tuned.study, tuned.path)
