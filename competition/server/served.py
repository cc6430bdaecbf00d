"""What every route of the grader reads: one ``Served`` per application (``app.state.served``), made by
``app.create_app`` and used by the thin handlers of ``routes.py`` and ``kaggle_api.py``. It holds the
rules every way in shares (who a token is, the quota, an upload's one path through grading, what a
team may see, the Ladder) and the caches a board view reads (the standings, their intervals and
tiers, the encoded answer), each kept until the store's version, the end or the answer key changes.

Refusals raise FastAPI's ``HTTPException``; ``app.py`` answers each as ``{"error": ...}``.
"""

from __future__ import annotations

import json
import secrets
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment

from .. import clock
from ..grade.grader import Grader
from ..grade.standings import rank_of, team_standings
from . import ladder, sameness
from . import settings as rules
from .boards import KeptRows, uncertain
from .bundle import pack_competition
from .ladder import LADDER
from .store import StaleKey, Store, token_hash

WRONG_TOKENS_PER_MINUTE = 20
MAX_MESSAGE = 500  # characters of a submission's message
PUBLIC_FIELDS = ("id", "time", "member", "name", "message", "status", "error", "public", "public_rows", "selected",
                 "late", "void_reason")
ADMIN_FIELDS = ("id", "team", "member", "time", "name", "message", "status", "error", "public", "private", "late",
                "selected", "void_reason")


class Throttle:
    """Wrong tokens per client address: after ``limit`` in a minute, 429 with Retry-After. A valid
    token is never slowed (a class behind one address must not be locked out by one student's typo);
    guessing a 256-bit token is hopeless anyway, so this bounds the load, not the odds. The count
    lives in the database (``Store.wrong_token``), shared by every worker process."""

    def __init__(self, store: Store, limit: int = WRONG_TOKENS_PER_MINUTE, window: float = 60.0):
        self.store, self.limit, self.window = store, limit, window

    def failed(self, address: str, now: float | None = None) -> int:
        """Record one wrong token; the seconds to wait when over the limit, else 0."""
        return self.store.wrong_token(address, time.time() if now is None else now, self.window, self.limit)


def public_view(row: dict, revealed: bool) -> dict:
    """What a team may see of its own submission: the private score only after the end."""
    view = {key: row.get(key) for key in PUBLIC_FIELDS}
    view["selected"], view["late"] = bool(view["selected"]), bool(view["late"])
    if revealed:
        view["private"] = row.get("private")
    return view


def log_upload(result: dict, team: str, member: str) -> None:
    """One line on the server's output per upload: what a teacher watches during class."""
    score = f" public {result['public']:.4f}" if result.get("public") is not None else ""
    why = f" ({result['error'][:120]})" if result["status"] != "ok" and result.get("error") else ""
    late = " late" if result.get("late") else ""
    print(f"{clock.iso(clock.now())} upload team={team!r} member={member!r} {result['status']}{late}"
          f"{' duplicate' if result.get('duplicate') else ''}{score}{why}", file=sys.stdout, flush=True)


def uploads_per_hour(store: Store, now, most_hours: int = 14 * 24) -> list[dict]:
    """Uploads (and failed ones) per UTC hour, from the first hour with one to now, at most two weeks."""
    found = {hour: (n, failed) for hour, n, failed in store.connection().execute(
        "SELECT substr(time, 1, 13), COUNT(*), SUM(status = 'error') FROM submissions GROUP BY substr(time, 1, 13)")}
    if not found:
        return []
    hour = max(clock.parse(min(found) + ":00:00Z"), now - timedelta(hours=most_hours - 1)).replace(minute=0, second=0,
                                                                                                   microsecond=0)
    hours = []
    while hour <= now:
        n, failed = found.get(clock.iso(hour)[:13], (0, 0))
        hours.append({"hour": clock.iso(hour), "uploads": n, "failed": failed})
        hour += timedelta(hours=1)
    return hours


def bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


class Served:
    """One competition as the routes serve it. ``keyed``: ``app.KeyedGrader`` (the key in force);
    ``grading``: ``grading.InProcess`` or ``ProcessPool``; ``pages``: the templates."""

    def __init__(self, store: Store, keyed, grading, pages: Environment, max_bytes: int):
        self.store, self.keyed, self.grading, self.pages, self.max_bytes = store, keyed, grading, pages, max_bytes
        self.data: Path = keyed.grader.data
        self.name = self.data.name  # the competition's name: its folder's name
        self.throttle = Throttle(store)
        self._packed, self._packing = None, threading.Lock()
        self._board, self._reading = {"version": None, "teams": []}, threading.Lock()  # the last standings read
        self._kept = KeptRows(store)
        self._lines, self._showing = {"version": None, "teams": []}, threading.Lock()  # with intervals and tiers
        self._encoded, self._encoding = {"version": None, "body": b""}, threading.Lock()  # the board as JSON bytes
        self._looked = {"version": None, "pairs": []}  # sameness, computed again only when the store has changed

    # --- the settings ---
    def stored(self) -> dict:
        return rules.in_force(self.store.settings())

    def title(self, stored: dict) -> str:
        return rules.title(stored, self.name)

    # --- who asks ---
    def wrong_token(self, address: str) -> int:
        return self.throttle.failed(address)

    def refuse_token(self, request: Request, what: str = "token"):
        wait = self.wrong_token(request.client.host if request.client else "?")
        if wait:
            raise HTTPException(429, f"too many wrong tokens from your address; try again in {wait} s",
                                headers={"Retry-After": str(wait)})
        raise HTTPException(401, f"missing or invalid {what} (send Authorization: Bearer TOKEN)",
                            headers={"WWW-Authenticate": "Bearer"})

    def member_of(self, authorization: str | None, request: Request) -> dict:
        token = bearer(authorization)
        found = self.store.member_of(token) if token else None
        if found is None:
            self.refuse_token(request)
        return found

    def check_admin(self, authorization: str | None, request: Request) -> None:
        token, wanted = bearer(authorization), self.store.setting("admin_token_sha256")
        if not (token and wanted and secrets.compare_digest(token_hash(token), wanted)):
            self.refuse_token(request, "admin token")

    @staticmethod
    def active(found: dict) -> str:
        if found["disabled"]:
            raise HTTPException(403, f"team {found['team']!r} is disabled by the host: no uploads or picks")
        return found["team"]

    # --- what a team sees ---
    @staticmethod
    def on_ladder(stored: dict, ended: bool) -> bool:
        return stored["public_board"] == LADDER and not ended

    def shown_scores(self, stored: dict, ended: bool, team: str) -> dict[int, float] | None:
        """Submission id -> the public score the Ladder shows for the team's rows; None off the ladder."""
        if not self.on_ladder(stored, ended):
            return None
        return ladder.shown(self.store.submissions(team), stored["ladder_step"], self.keyed.grader.higher_is_better)

    @staticmethod
    def team_view(row: dict, ended: bool, scores: dict[int, float] | None) -> dict:
        view = public_view(row, ended)
        if scores is not None and view["public"] is not None:
            view["public"] = scores.get(view["id"], view["public"])
        return view

    # --- the board ---
    def standings(self, stored: dict, ended: bool) -> list[dict]:
        """The teams' standings, read again only when the database has changed (or the end came):
        a projector's refreshes and a class's board views cost a version check, whatever is stored.
        On the Ladder's public board, from every submission with its shown score."""
        higher = self.keyed.grader.higher_is_better
        with self._reading:
            version = (self.store.version(), ended)
            if self._board["version"] != version:
                rows, tally = self.store.standing_rows(higher)
                if self.on_ladder(stored, ended):  # the shown scores depend on every submission's order
                    rows, tally = ladder.laddered(self.store.submissions(), stored["ladder_step"], higher), None
                self._board["teams"] = team_standings(rows, ended, disabled=self.store.disabled(), tally=tally,
                                                      higher_is_better=higher)
                self._board["version"] = version
            return self._board["teams"]

    def board_lines(self, stored: dict, ended: bool) -> list[dict]:
        """The standings with each line's interval and tier (``boards.uncertain``), computed once
        per store version, end and answer key: a board view between two uploads costs a version check."""
        with self._showing:
            current, key_sha256 = self.keyed.current(stored)
            version = (self.store.version(), ended, key_sha256)
            if self._lines["version"] != version:
                lines = self.standings(stored, ended)
                self._lines["teams"] = (
                    [{**line, "public_low": None, "public_high": None, "tier": None} for line in lines]
                    if self.on_ladder(stored, ended)  # an interval would tell what the ladder hides
                    else uncertain(lines, ended, current, self._kept, key_sha256))
                self._lines["version"] = version
            return self._lines["teams"]

    def board_json(self) -> bytes:
        """``GET /api/leaderboard``'s answer, encoded once per store version, end and answer key (the
        settings it shows live in the store, so its version covers them): a view between two uploads
        costs a version check and a settings read, not an encoding of every line."""
        version = self.store.version()  # read first: what is built below is never older than what it is kept under
        stored = self.stored()
        ended, (key, key_sha256) = rules.ended(stored, clock.now()), self.keyed.current(stored)  # a rescored key shows
        with self._encoding:
            if self._encoded["version"] != (version, ended, key_sha256):
                self._encoded["body"] = json.dumps(
                    {"competition": self.title(stored), "revealed": ended, "ended": ended,
                     "deadline": stored["deadline"], "metric": key.metric, "higher_is_better": key.higher_is_better,
                     "public_rows": key.public_rows, "test_rows": len(key.solution),
                     "teams": self.board_lines(stored, ended)},
                    ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")  # as JSONResponse
                self._encoded["version"] = (version, ended, key_sha256)
            return self._encoded["body"]

    # --- an upload ---
    def over_quota(self, team: str, stored: dict, now) -> tuple[int, dict] | None:
        """The 429 of a team whose daily limit or failed-upload limit is used up today, read before its
        upload is graded (``Grader.grade`` checks again, inside its transaction, for uploads racing)."""
        start, resets = clock.day(now)
        used = self.store.counted_since(team, start)
        quota = {"resets_at": clock.iso(resets), "submissions_left_today": max(0, stored["daily_limit"] - used)}
        if used >= stored["daily_limit"]:
            why = f"daily limit of {stored['daily_limit']} graded submissions reached"
        elif self.store.failed_since(team, start) >= stored["failed_limit"]:
            why = f"{stored['failed_limit']} failed uploads today"
        else:
            return None
        return 429, {"error": Grader.refusal(why, now, resets), **quota}

    def take_upload(self, found: dict, content: bytes, filename: str, message: str) -> tuple[int, dict]:
        """One upload of a roster member (``found``: ``Store.member_of``), by any route (this API, the
        Kaggle CLI's): the one rule set. ``(HTTP status, answer)``; a refusal before grading raises."""
        store, team = self.store, self.active(found)
        now = clock.now()
        stored = self.stored()
        late = rules.ended(stored, now)
        if late and not stored["late"]:
            store.record("refused", f"an upload of team {team!r} ({found['member']}): after the end")
            raise HTTPException(403, "the competition has ended: uploads are closed")
        if len(message) > MAX_MESSAGE:
            raise HTTPException(400, f"message of {len(message)} characters, over the limit of {MAX_MESSAGE}")
        refused = self.over_quota(team, stored, now)
        if refused is not None:  # before any grading: a refused upload costs the graders nothing
            store.record("refused", f"an upload of team {team!r} ({found['member']}): {refused[1]['error']}")
            return refused
        name = Path((filename or "upload.csv").replace("\\", "/")).name[:100] or "upload.csv"
        while True:
            current, key_sha256 = self.keyed.current(stored)
            assessed = self.grading.assess(current, key_sha256, content, source=name)  # the CPU's part, in turn
            try:  # the disk's part (kept file, row, fsyncs) here, while the next upload grades
                result = current.grade(content, store, team=team, file=name, name=name, message=message, now=now,
                                       extra={"member": found["member"], "late": late, "key_sha256": key_sha256},
                                       daily_limit=stored["daily_limit"], failed_limit=stored["failed_limit"],
                                       assessed=assessed)
                break
            except StaleKey:  # a rescore changed the key while this upload graded: again, with the new key
                stored = self.stored()
        log_upload(result, team, found["member"])
        quota = {"submissions_left_today": result["submissions_left_today"], "resets_at": result["resets_at"]}
        if result["status"] == "over-limit":
            store.record("refused", f"an upload of team {team!r} ({found['member']}): {result['error']}")
            return 429, {"error": result["error"], **quota}
        if result["status"] == "error":
            return 400, {"error": result["error"], "id": result["id"], **quota}
        scores = self.shown_scores(stored, late, team)
        body = {**self.team_view(result, late, scores), **quota, "duplicate": result["duplicate"],
                "rank": None if result.get("late") else rank_of(team, self.standings(stored, False))}
        if scores is not None and not result.get("late"):
            earlier = [i for i in scores if i < result["id"]]
            body["ladder"] = ladder.note(scores[result["id"]], scores[max(earlier)] if earlier else None,
                                         stored["ladder_step"])
        return 200 if result["duplicate"] else 201, body

    # --- the host's view, the data, the pages ---
    def alike(self, every: list[dict]) -> list[dict]:
        version = self.store.version()
        if self._looked["version"] != version:
            self._looked["pairs"], self._looked["version"] = sameness.pairs(every, self.store.files), version
        return self._looked["pairs"]

    def data_zip(self) -> tuple[Path, str]:
        """The competitor's folder as one zip (built at the first download): its path and sha256."""
        with self._packing:
            if self._packed is None:
                self._packed = pack_competition(self.data, self.store.files)
            return self._packed

    def page(self, name: str, request: Request, **values) -> HTMLResponse:
        stored = self.stored()
        return HTMLResponse(self.pages.get_template(f"{name}.html").render(
            title=self.title(stored), root=request.scope.get("root_path", "").rstrip("/"), stored=stored, **values))


def served_by(request: Request) -> Served:
    """The application's one ``Served`` (``app.state.served``), as every route reaches it."""
    return request.app.state.served
