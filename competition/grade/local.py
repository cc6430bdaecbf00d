"""The local grader: grade files into the JSON-lines ledger, redraw leaderboard.md and print one
report per file (``python -m competition.grade``; ``submit --grade`` calls it too). A file's
sidecar (``.json`` beside it, written by ``submit``) adds its recipe and CV score when it belongs
to exactly these bytes.
"""

from __future__ import annotations

import hashlib
import json
import sys
import warnings
from pathlib import Path

from ..data import metrics, uncertainty
from ..errors import InputError, InputWarning
from ..fsutil import NotRegularFile, read_regular
from . import ledger, standings
from .grader import Grader, Storage
from .validate import SubmissionError


def sidecar_problem(meta, sha256: str) -> str | None:
    """Why a sidecar cannot be trusted for this file, or None."""
    if not isinstance(meta, dict):
        return "not a JSON object"
    if meta.get("sha256") != sha256:
        return ("it describes another file (its sha256 differs from the CSV's: was the CSV changed after "
                "submit?)" if meta.get("sha256") else "it has no sha256 to prove it belongs to the CSV")
    if meta.get("cv") is not None and not ledger.valid_cv(meta["cv"]):
        return "its CV score is not a number between 0 and 1"
    if not isinstance(meta.get("name", ""), str) or not ledger.valid_recipe(meta.get("recipe") or {}):
        return "its name or recipe is malformed"
    return None


def read_sidecar(path: Path, sha256: str) -> dict:
    """Name, recipe and CV score from the submission's ``.json`` sidecar, when it has one that
    belongs to exactly these bytes; otherwise nothing, with a warning saying why it was ignored."""
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        return {}
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        why = f"cannot be read ({exc})"
    else:
        why = sidecar_problem(meta, sha256)
    if why:
        warnings.warn(f"{sidecar}: ignored, {why}; {path} is graded without a recipe or CV score",
                      InputWarning, stacklevel=2)
        return {}
    return {"name": meta.get("name") or path.stem, "recipe": meta.get("recipe"), "cv": meta.get("cv")}


def grade_file(grader: Grader, storage: Storage, path: Path, message: str = "") -> dict:
    """Grade the file ``path`` (with its sidecar's recipe and CV score when the sidecar belongs to it)."""
    try:
        data = read_regular(path)  # a folder, a pipe with no writer (reading it would hang): refused
    except NotRegularFile as exc:
        return {"file": str(path), "status": "error", "duplicate": False, "error": f"{exc}; not graded"}
    except OSError as exc:
        return {"file": str(path), "status": "error", "duplicate": False,
                "error": f"{path}: cannot be read ({exc.strerror}); not graded"}
    extra = read_sidecar(path, hashlib.sha256(data).hexdigest())
    result = grader.grade(data, storage, file=str(path), name=extra.pop("name", path.stem), message=message,
                          extra=extra)
    return {**result, "submitted": str(path)}


def file_rank(entry: dict, entries: list[dict], higher_is_better: bool = True) -> tuple[int, int]:
    """The file's rank among the files scored by its metric, and how many they are."""
    scored = ledger.graded(entries, entry.get("metric", metrics.DEFAULT))
    return standings.rank(entry["public"], [e["public"] for e in scored], higher_is_better), len(scored)


def report(entry: dict, entries: list[dict], reveal: bool, higher_is_better: bool = True) -> str:
    """What the command line prints for one graded file."""
    name = entry.get("submitted") or entry["file"]
    if entry["status"] != ledger.COUNTED:
        error = entry["error"]
        return f"{entry['status']}: {error}" if error.startswith(name) else f"{name}: {entry['status']}: {error}"
    rank, total = file_rank(entry, entries, higher_is_better)
    head = (f"{name}: duplicate of {entry['file']} graded {entry['time']}, not counted again; its public "
            if entry.get("duplicate") else f"{name}: public ")
    text = head + f"{entry['metric']} {entry['public']:.4f} (rank {rank} of {total})"
    cv = ledger.cv_score(entry)
    if cv:
        text += f", CV {cv[0]:.4f} +- {cv[1]:.4f}, public - CV {entry['public'] - cv[0]:+.4f}"
    if entry.get("submissions_left_today") is not None:
        text += f"\n  {entry['submissions_left_today']} submission(s) left today (resets {entry['resets_at']})"
    private = entry.get("private")
    text += (f"\n  private {private:.4f}" if reveal and private is not None
             else "\n  private: unknown (its graded bytes are gone)" if reveal
             else "\n  private: hidden (--reveal shows it)")
    return text


def same_answers(grader: Grader, store: ledger.Ledger, entries: list[dict]) -> bool:
    """Whether the files an older version graded (whose ledger entries name the competition by its
    folder and sample alone) score today as they scored then: the answer key is the same one. Each
    counted file is rescored from its kept copy; none left to rescore proves nothing."""
    old = [e for e in ledger.graded(entries) if e.get("competition") == grader.legacy_competition]
    kept = [(e, store.kept_bytes(e)) for e in old]
    kept = [(e, data) for e, data in kept if data is not None]
    try:
        return bool(kept) and all(grader.scores(data)["public"] == e["public"] for e, data in kept)
    except SubmissionError:
        return False


def public_bounds(grader: Grader, store: ledger.Ledger, entries: list[dict],
                  confidence: float = uncertainty.DEFAULT_CONFIDENCE) -> dict[str, dict]:
    """Each counted file's public interval and tier on the local board (sha256 -> ``{"low", "high",
    "tier"}``), recomputed from its kept copy and the answer key at every draw, so that they follow
    the key as the scores do. A file whose bytes are gone (or no longer valid) is left out and the
    others are tiered without it."""
    scored = []
    for entry in standings.files(entries, grader.higher_is_better, grader.metric):
        data = store.kept_bytes(entry)
        if data is None or entry["sha256"] in {sha for sha, _ in scored}:
            continue
        try:
            y_true, predicted = grader.rows(data)
        except SubmissionError:
            continue
        scored.append((entry["sha256"], predicted))
    if not scored:
        return {}
    predictions = [predicted for _, predicted in scored]
    spans = uncertainty.intervals(grader.scorer, y_true, predictions, len(grader.classes), confidence)
    tiers = uncertainty.tiers(grader.scorer, y_true, predictions, len(grader.classes), alpha=1 - confidence)
    return {sha: {"low": low, "high": high, "tier": tier}
            for (sha, _), (low, high), tier in zip(scored, spans, tiers)}


def grade_files(paths: list[Path], grader: Grader, *, ledger_path: Path = ledger.LEDGER,
                leaderboard_path: Path = Path("leaderboard.md"), message: str = "", reveal: bool = False) -> int:
    """The local grader: grade ``paths`` into the ledger, reveal if asked, redraw the leaderboard
    from the whole ledger (inside its lock), print one report per file; the exit code."""
    from .leaderboard import kept_notes, write_leaderboard

    store = ledger.Ledger(ledger_path)
    with store.transaction():  # a board being redrawn is never half-seen: its chart and page change in turn
        before = store.entries()
        kept_notes(leaderboard_path, before, grader.data.name)  # refuse now a board a redraw would lose edits of
    others = {e["competition"] for e in before if e.get("competition", grader.competition) != grader.competition}
    if grader.legacy_competition in others and same_answers(grader, store, before):
        others.discard(grader.legacy_competition)  # an older version's ledger of this very competition
    others = sorted(others)
    if others:
        raise InputError(f"--ledger {ledger_path}: holds submissions of another competition ({others[0]}), not "
                         f"{grader.competition}; give this one its own --ledger and --leaderboard")
    results = [grade_file(grader, store, path, message) for path in paths]
    with store.transaction():  # the board is drawn from the whole ledger, never from a stale read
        if reveal or ledger.revealed(before):  # once revealed, each file graded since is scored on the private rows too
            store.reveal(grader.private_score)
        everything = store.entries()
        write_leaderboard(everything, leaderboard_path, title=grader.overview.title or grader.data.name,
                          metric=grader.overview.metric, previous=before,  # the competition's, whatever --metric
                          bounds=public_bounds(grader, store, everything) if grader.metric == grader.overview.metric
                          else None)
    revealed = ledger.revealed(everything)
    private = {e["sha256"]: e.get("private") for e in ledger.graded(everything)}
    for result in results:
        if result["status"] == ledger.COUNTED and revealed:  # the score of the reveal; before it, report hides it
            result = {**result, "private": private.get(result["sha256"])}
        print(report(result, everything, revealed, grader.higher_is_better),
              file=sys.stdout if result["status"] == ledger.COUNTED else sys.stderr)
    print(f"leaderboard: {leaderboard_path}")
    return 0 if all(r["status"] == ledger.COUNTED for r in results) else 1
