"""Scores with their uncertainty on the server's boards: each standing submission's predictions,
recomputed row by row from its kept file and the answer key, give its interval and the board's
tiers (``competition.data.uncertainty``; docs/how-sure-is-a-score.md).

Nothing is stored beyond the scores: a rescore with a corrected key changes the key's sha256, so
every row is recomputed from the kept files again. ``KeptRows`` keeps the rows (and intervals) of
the submissions that stand on the board now, so a new upload reads one file, not the class's;
``uncertain`` is the pure part, over rows already read. The live board calls both once per store
version (``app.create_app``), ``export`` once per export.
"""

from __future__ import annotations

import threading

import numpy as np

from ..data import metrics, uncertainty
from ..errors import InputError
from ..grade.grader import Grader
from ..grade.public_private import USAGES, scored_rows
from ..grade.validate import SubmissionError, validate_submission
from .store import Store

class KeptRows:
    """Each standing submission's predictions on the public and private rows, read from its kept
    file once per answer key (``key_sha256``) and dropped when it no longer stands. A kept file
    that is missing or no longer valid gives no rows (its line shows no interval), never an error:
    a board is drawn whatever happened to one file."""

    def __init__(self, store: Store):
        self.store = store
        self._lock = threading.Lock()
        self._key: str | None = None
        self._truth: dict[str, np.ndarray] | None = None
        self._rows: dict[int, dict[str, np.ndarray] | None] = {}
        self._intervals: dict[tuple, tuple[float, float]] = {}

    def read(self, grader: Grader, key_sha256: str, ids: set[int]) -> tuple[dict, dict]:
        """``(truth, rows)``: the key's classes on each part, and submission id -> its predictions
        on each part (None when its kept file cannot give them) for every id of ``ids``."""
        with self._lock:
            if key_sha256 != self._key:
                self._key, self._rows, self._intervals = key_sha256, {}, {}
                self._truth = truth(grader)
            missing = sorted(set(ids) - set(self._rows))
            for submission, path in self.store.kept_files(missing).items():
                try:
                    predictions = validate_submission(path.read_bytes(), grader.sample, grader.classes,
                                                      source=str(path))
                except (OSError, SubmissionError):
                    self._rows[submission] = None
                else:  # validated once, split into its two parts
                    self._rows[submission] = {usage.lower(): scored_rows(predictions, grader.solution, grader.classes,
                                                                         grader.scorer, usage)[1] for usage in USAGES}
            self._rows = {i: rows for i, rows in self._rows.items() if i in ids}
            self._intervals = {k: v for k, v in self._intervals.items() if k[0] in ids}
            return self._truth, {i: self._rows.get(i) for i in ids}

    def intervals(self, grader: Grader, part: str, predicted: dict[int, np.ndarray],
                  confidence: float) -> dict[int, tuple]:
        """Submission id -> the interval of its score on ``part`` (``(None, None)`` where the metric
        cannot give one), each computed once while it stands, the missing ones from one bootstrap
        draw (``uncertainty.intervals``: a bootstrap is the slow part of a board). Call after
        ``read`` with the same key."""
        with self._lock:
            missing = [i for i in predicted if (i, part, confidence) not in self._intervals]
            if missing:
                try:
                    found = uncertainty.intervals(grader.scorer, self._truth[part], [predicted[i] for i in missing],
                                                  len(grader.classes), confidence)
                except (InputError, ValueError):  # a metric undefined on some resample (ROC AUC, a class missing)
                    found = [(None, None)] * len(missing)
                self._intervals.update({(i, part, confidence): bounds for i, bounds in zip(missing, found)})
            return {i: self._intervals[(i, part, confidence)] for i in predicted}


def truth(grader: Grader) -> dict[str, np.ndarray]:
    """The answer key's class indices on the public and on the private rows, in the key's order
    (the ``y_true`` of ``grade.public_private.scored_rows``)."""
    solution = grader.solution
    return {usage.lower(): metrics.encode(solution[solution["Usage"] == usage].iloc[:, 1], grader.classes)
            for usage in USAGES}


def uncertain(lines: list[dict], ended: bool, grader: Grader, kept: KeptRows, key_sha256: str,
              confidence: float = uncertainty.DEFAULT_CONFIDENCE, public_of: str = "public_id") -> list[dict]:
    """Copies of the standing ``lines`` (``grade.standings.team_standings``, in rank order) with
    ``public_low``/``public_high`` (the interval of the submission ``public_of`` names: the best
    public one, or ``final_id`` where the line shows the final submission's public score) and
    ``tier``; at the end also ``private_low``/``private_high``, and the tier comes from the private
    scores. A line whose kept file gives no rows has None in each, and no tier."""
    ids = {line[public_of] for line in lines} | ({line["final_id"] for line in lines} if ended else set())
    truth_rows, rows = kept.read(grader, key_sha256, ids)
    shown = {"public": public_of, **({"private": "final_id"} if ended else {})}  # part -> the line's submission
    bounds = {part: kept.intervals(grader, part, {line[which]: rows[line[which]][part] for line in lines
                                                  if rows.get(line[which]) is not None}, confidence)
              for part, which in shown.items()}
    out = []
    for line in lines:
        line = {**line, "public_low": None, "public_high": None, "tier": None}
        if ended:
            line.update(private_low=None, private_high=None)
        for part, which in shown.items():
            if line[which] in bounds[part]:
                line[f"{part}_low"], line[f"{part}_high"] = bounds[part][line[which]]
        out.append(line)
    part, chosen = ("private", "final_id") if ended else ("public", "public_id")
    tiered = [line for line in out if rows.get(line[chosen]) is not None]
    if tiered:
        try:
            found = uncertainty.tiers(grader.scorer, truth_rows[part], [rows[line[chosen]][part] for line in tiered],
                                      len(grader.classes))
        except (InputError, ValueError):  # no tiers, rather than no board
            found = [None] * len(tiered)
        for line, tier in zip(tiered, found):
            line["tier"] = None if tier is None else int(tier)
    return out


def whiskers(lines: list[dict], part: str, higher_is_better: bool, width: float = 200.0) -> list[tuple | None]:
    """Each line's interval on ``part`` as ``(x_low, x_score, x_high)`` on one axis ``width`` wide
    shared by the board (the better end on the right), for the page's error bars; None without one."""
    score = "private" if part == "private" else "public"
    known = [line for line in lines if line.get(f"{part}_low") is not None]
    if not known:
        return [None] * len(lines)
    least = min(min(line[f"{part}_low"], line[score]) for line in known)
    most = max(max(line[f"{part}_high"], line[score]) for line in known)
    span = (most - least) or 1.0

    def x(value: float) -> float:
        share = (value - least) / span
        return round(width * (share if higher_is_better else 1 - share), 1)

    def mark(line: dict) -> tuple[float, float, float] | None:
        if line.get(f"{part}_low") is None:
            return None
        left, right = sorted((x(line[f"{part}_low"]), x(line[f"{part}_high"])))
        return left, x(line[score]), right

    return [mark(line) for line in lines]


def shakeup_sentence(lines: list[dict]) -> str | None:
    """The ended board's one line on how far the private ranks moved from the public ones."""
    if len(lines) < 2:
        return None
    found = uncertainty.shakeup([line["public_rank"] for line in lines], [line["rank"] for line in lines])
    first = next(line for line in lines if line["public_rank"] == 1)
    return (f"Shake-up: public and private ranks agree with Spearman {found['spearman']:.2f} (Kendall "
            f"{found['kendall']:.2f}); a team moved {found['shakeup'] * len(lines):.1f} places on average; the "
            f"public #1 finished #{first['rank']}.")
