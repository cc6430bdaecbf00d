"""The grader server's HTTP application (FastAPI): uploads, own submissions, final picks, the
leaderboard as JSON and as a page, an upload page, and the competitor's data as a zip.

Every error is ``{"error": "..."}`` (the validator's own message for a bad file; unknown paths,
wrong methods and malformed multipart bodies too). A request body over ``max_bytes`` is refused
with 413 while it is being read (``LimitBody``), not after. The settings are read from the
database at every request, so ``python -m competition.server set`` (another process) changes a
running server. Private scores appear in no response before the end; the answer key and uploaded
files are served by no URL; team names and messages are escaped wherever a page shows them. One
line per upload goes to the server's output (never a token, never a private score).
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import secrets
import sqlite3
import sys
import threading
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI, File, Form, Header, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles

from .. import clock
from ..data.records import Layout
from ..errors import InputError
from ..grade.core import Grader
from . import kaggle_api, ladder, settings as rules
from ..data import uncertainty
from .boards import KeptRows, shakeup_sentence, uncertain, whiskers
from .bundle import DATA_SHA256_HEADER, pack_competition
from ..grade.standings import TIE_RULE, rank_of, team_standings, tied
from . import pages as competition_pages
from . import sameness
from .grading import InProcess, ProcessPool
from .ladder import LADDER
from .serving import HeaderLimit
from .store import Frozen, StaleKey, Store, StoreError, Unavailable, token_hash

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")
SECURITY_HEADERS = [  # every answer: no framing, no sniffing, no referrer, nothing loaded from elsewhere
    (b"content-security-policy", b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                 b"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY")]
WRONG_TOKENS_PER_MINUTE = 20
MAX_MESSAGE = 500  # characters of a submission's message
BUSY_SECONDS = 5  # an upload waits this long for the database's write lock, then answers 503
RETRY_AFTER = "5"
PUBLIC_FIELDS = ("id", "time", "member", "name", "message", "status", "error", "public", "public_rows", "selected",
                 "late", "void_reason")


@dataclass
class Settings:
    """How to serve one competition. ``flags``: ``serve``'s settings flags (key -> value, None when
    not given), written to the database only where it has no value yet."""
    data: Path
    db: Path = Path("grader.sqlite")
    solution: Path | None = None
    max_bytes: int = 10 * 1024 * 1024
    flags: dict = field(default_factory=dict)
    graders: int = 1  # processes that validate and score uploads (1: the request's thread, one at a time)


class BodyTooLarge(Exception):
    pass


class LimitBody:
    """ASGI middleware: refuse a POST (or PUT) body over ``max_bytes`` with 413, by its Content-Length or
    while it streams in (a client may lie or send no length), before the application reads on."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT"):
            return await self.app(scope, receive, send)
        too_large = JSONResponse({"error": f"request body over the limit of {self.max_bytes:,} bytes"}, status_code=413)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await too_large(scope, receive, send)
        received, exceeded, answered = 0, False, False

        async def limited_receive():
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise BodyTooLarge  # the application stops reading (FastAPI turns it into a 400)
            return message

        async def answer_send(message):
            nonlocal answered
            if exceeded:  # whatever the application answers, the answer is 413
                if not answered:
                    answered = True
                    await too_large(scope, receive, send)
                return
            answered = answered or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, answer_send)
        except BodyTooLarge:
            if not answered:
                await too_large(scope, receive, send)


class SecurityHeaders:
    """ASGI middleware: ``SECURITY_HEADERS`` on every response, errors and static files included."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, with_headers)


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
    from datetime import timedelta

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


class KeyedGrader:
    """The competition's ``Grader`` with the answer key in force: the server's own copy of it, kept
    beside the database (``Store.own_key``) and named by the sha256 recorded in the settings, so a
    host's file moved, deleted or edited after ``serve`` or ``rescore`` changes nothing (a restart
    grades with the copy too). Reloaded when a rescore has recorded another key since it was read.
    ``note``: what ``serve`` tells the host when its ``--solution`` is not the key in force."""

    def __init__(self, data: Path, solution: Path | None, store: Store):
        self.lock, self.store, self.note = threading.Lock(), store, None
        self.key_sha256 = store.setting("key_sha256")
        owned = store.key_file(self.key_sha256) if self.key_sha256 else None
        try:
            given = Grader(data, solution)  # checked at every start, as the host expects of --solution
        except InputError as exc:
            if owned is None or not owned.is_file():
                raise
            self.given, self.grader = None, Grader(data, owned)  # the host's file is gone: ours is enough
            self.note = f"{exc}; grading with the grader's own copy of the key in force"
            return
        self.given = given.solution_path  # the host's file: never read again, and never in the data zip
        given_sha256 = hashlib.sha256(given.solution_path.read_bytes()).hexdigest()
        if self.key_sha256 is None:  # the first start (or a database made before keys were owned)
            owned, self.key_sha256 = store.own_key(given.solution_path)
            store.set_settings({"key_sha256": given_sha256, "solution": str(given.solution_path.resolve())})
        elif not owned.is_file():  # rescored before keys were owned: own the rescore's file now
            source = Path(store.setting("solution") or given.solution_path)
            if not source.is_file() or hashlib.sha256(source.read_bytes()).hexdigest() != self.key_sha256:
                raise InputError(f"the answer key in force (sha256 {self.key_sha256[:12]}, from {source}) is gone or "
                                 f"changed and the grader has no copy; run: python -m competition.server rescore "
                                 f"--db {store.path} --solution CORRECTED.csv")
            store.own_key(source)
        if given_sha256 != self.key_sha256:
            self.grader = Grader(data, owned)
            self.note = (f"{self.given} is not the answer key this grader scores with (its own copy, sha256 "
                         f"{self.key_sha256[:12]}); to change the key, run rescore --solution {self.given}")
        else:  # the same bytes: only where grading processes read them from changes
            self.grader, given.solution_path = given, owned

    def current(self, stored: dict) -> tuple[Grader, str]:
        """The grader of the key in force and that key's sha256 (read together: another thread may switch)."""
        wanted = stored.get("key_sha256")
        with self.lock:
            if wanted and wanted != self.key_sha256:
                try:
                    self.grader = Grader(self.grader.data, self.store.key_file(wanted))
                except (InputError, OSError) as exc:
                    print(f"error: the answer key in force cannot be read ({exc}); restore it, or run rescore "
                          f"--solution CORRECTED.csv", file=sys.stderr, flush=True)
                    raise Unavailable(f"the grader cannot read its corrected answer key ({exc}); nothing was "
                                      f"stored, try again later (the host has been told in the server's log)") from None
                self.key_sha256 = wanted
            return self.grader, self.key_sha256


def fingerprint(data: Path) -> dict:
    """Which competition a database belongs to: the data folder's name and its sample submission's
    sha256 (not the answer key, which ``rescore`` may correct)."""
    return {"folder": data.name, "sample_sha256": hashlib.sha256(Layout(data).sample_csv.read_bytes()).hexdigest()}


def check_fingerprint(stored: dict, found: dict, db: Path, data: Path) -> None:
    """A database serves the competition it was made for, never another one's folder."""
    kept = stored.get("fingerprint")
    if kept is not None and kept != found:
        same_name = kept.get("folder") == found["folder"]
        raise InputError(f"--data {data}: the database {db} belongs to another competition ("
                         + ("the same folder name, another test set" if same_name else f"folder {kept.get('folder')!r}")
                         + "); serve that competition's folder, or give a new --db for this one")


def create_app(settings: Settings) -> FastAPI:
    """The application for one competition (the answer key is read and checked here, once)."""
    store = Store(settings.db, busy_seconds=BUSY_SECONDS)
    stored = store.settings()
    layout = Layout(settings.data)
    layout.check_exists()
    check_fingerprint(stored, fingerprint(layout.root), settings.db, layout.root)  # before anything is written
    keyed = KeyedGrader(settings.data, settings.solution, store)
    grader = keyed.grader
    if keyed.note:
        print(f"note: {keyed.note}", flush=True)
    store.set_settings({**rules.first_start(stored, settings.flags, clock.now()),
                        "data": str(grader.data.resolve()), "fingerprint": fingerprint(grader.data),
                        "solution_default": str((keyed.given or grader.solution_path).resolve()),
                        "metric": grader.metric, "higher_is_better": grader.higher_is_better,
                        "declared_title": grader.overview.title})
    pages = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    packed = {"lock": threading.Lock(), "zip": None}
    grading = (ProcessPool(settings.graders, grader, keyed.key_sha256) if settings.graders > 1
               else InProcess())  # uploads grade in arrival order, one at a time per place

    @asynccontextmanager
    async def lifespan(app):
        grading.start()  # the grading processes read the key now, not at the first upload; they end with the server
        gc.freeze()  # the application and its key stay out of every collection: no long pause every few uploads
        yield

    app = FastAPI(title="grader", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.add_middleware(HeaderLimit)  # 431 for headers over 16 KiB, however they arrived
    app.add_middleware(LimitBody, max_bytes=settings.max_bytes)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    throttle = Throttle(store)

    def title(stored: dict) -> str:
        return rules.title(stored, grader.data.name)

    def for_a_browser(request: Request) -> bool:
        """A page asked for by a browser's address bar or form (not the API, not a script's fetch)."""
        path = request.url.path[len(request.scope.get("root_path", "")):]
        return not path.startswith(("/api/", "/static/")) and "text/html" in request.headers.get("accept", "")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        detail = exc.detail if exc.status_code != 404 or exc.detail != "Not Found" else f"no such page: {request.url.path}"
        if for_a_browser(request):
            answer = page("error", request, page="error", status=exc.status_code, detail=detail)
            answer.status_code = exc.status_code
            answer.headers.update({k: v for k, v in (exc.headers or {}).items() if k.lower() != "www-authenticate"})
            return answer
        return JSONResponse({"error": detail}, status_code=exc.status_code, headers=exc.headers)

    def refused_upload(request: Request, why: str) -> None:
        """An upload refused by a fault of the server: in the journal too, when the database takes it."""
        if request.method == "POST" and request.url.path.endswith("/api/submissions"):
            try:
                store.record("refused", f"an upload: {why}"[:500])
            except Exception:  # the database is the fault: the server's output has the line
                pass

    @app.exception_handler(Exception)
    async def server_fault(request: Request, exc: Exception):  # a fault of ours: JSON still; Starlette re-raises
        refused_upload(request, f"server fault ({type(exc).__name__}: {exc})")  # it after this, to the server's log
        return JSONResponse({"error": f"the grader failed on this request (an internal error, {type(exc).__name__}, "
                                      f"written to the server's log for the host); nothing was stored, try again "
                                      f"later, and tell the host if it lasts"}, status_code=500)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError):
        where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": f"malformed request ({where})"}, status_code=400)

    @app.exception_handler(sqlite3.Error)
    async def store_failed(request: Request, exc: sqlite3.Error):  # locked, read-only, full: it passes
        refused_upload(request, f"the database could not be used ({exc})")
        return JSONResponse({"error": f"the grader's database cannot be used now ({exc}); nothing was stored, "
                                      f"try again shortly"}, status_code=503, headers={"Retry-After": RETRY_AFTER})

    @app.exception_handler(Unavailable)
    async def store_unavailable(request: Request, exc: Unavailable):
        refused_upload(request, str(exc))
        return JSONResponse({"error": str(exc)}, status_code=503, headers={"Retry-After": RETRY_AFTER})

    def bearer(authorization: str | None) -> str:
        scheme, _, token = (authorization or "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" else ""

    def refuse_token(request: Request, what: str = "token"):
        wait = throttle.failed(request.client.host if request.client else "?")
        if wait:
            raise HTTPException(429, f"too many wrong tokens from your address; try again in {wait} s",
                                headers={"Retry-After": str(wait)})
        raise HTTPException(401, f"missing or invalid {what} (send Authorization: Bearer TOKEN)",
                            headers={"WWW-Authenticate": "Bearer"})

    def member_of(authorization: str | None, request: Request) -> dict:
        token = bearer(authorization)
        found = store.member_of(token) if token else None
        if found is None:
            refuse_token(request)
        return found

    def check_admin(authorization: str | None, request: Request) -> None:
        token, wanted = bearer(authorization), store.setting("admin_token_sha256")
        if not (token and wanted and secrets.compare_digest(token_hash(token), wanted)):
            refuse_token(request, "admin token")

    def active(found: dict) -> str:
        if found["disabled"]:
            raise HTTPException(403, f"team {found['team']!r} is disabled by the host: no uploads or picks")
        return found["team"]

    board = {"version": None, "teams": []}  # the last standings read, and the store's version and end then
    reading = threading.Lock()
    kept = KeptRows(store)
    shown = {"version": None, "teams": []}  # the last board with intervals and tiers, and its version
    showing = threading.Lock()

    def on_ladder(stored: dict, ended: bool) -> bool:
        return stored["public_board"] == LADDER and not ended

    def shown_scores(stored: dict, ended: bool, team: str) -> dict[int, float] | None:
        """Submission id -> the public score the Ladder shows for the team's rows; None off the ladder."""
        if not on_ladder(stored, ended):
            return None
        return ladder.shown(store.submissions(team), stored["ladder_step"], keyed.grader.higher_is_better)

    def team_view(row: dict, stored: dict, ended: bool, scores: dict[int, float] | None) -> dict:
        view = public_view(row, ended)
        if scores is not None and view["public"] is not None:
            view["public"] = scores.get(view["id"], view["public"])
        return view

    def standings(stored: dict, ended: bool) -> list[dict]:
        """The teams' standings, read again only when the database has changed (or the end came):
        a projector's refreshes and a class's board views cost a version check, whatever is stored.
        On the Ladder's public board, from every submission with its shown score."""
        with reading:
            version = (store.version(), ended)
            if board["version"] != version:
                rows, tally = store.standing_rows(keyed.grader.higher_is_better)
                if on_ladder(stored, ended):  # the shown scores depend on every submission's order
                    rows, tally = ladder.laddered(store.submissions(), stored["ladder_step"],
                                                  keyed.grader.higher_is_better), None
                board["teams"] = team_standings(rows, ended, disabled=store.disabled(), tally=tally,
                                                higher_is_better=keyed.grader.higher_is_better)
                board["version"] = version
            return board["teams"]

    def over_quota(team: str, stored: dict, now) -> tuple[int, dict] | None:
        """The 429 of a team whose daily limit or failed-upload limit is used up today, read before its
        upload is graded (``Grader.grade`` checks again, inside its transaction, for uploads racing)."""
        start, resets = clock.day(now)
        used = store.counted_since(team, start)
        quota = {"resets_at": clock.iso(resets), "submissions_left_today": max(0, stored["daily_limit"] - used)}
        if used >= stored["daily_limit"]:
            why = f"daily limit of {stored['daily_limit']} graded submissions reached"
        elif store.failed_since(team, start) >= stored["failed_limit"]:
            why = f"{stored['failed_limit']} failed uploads today"
        else:
            return None
        return 429, {"error": Grader.refusal(why, now, resets), **quota}

    def board_lines(stored: dict, ended: bool) -> list[dict]:
        """The standings with each line's interval and tier (``boards.uncertain``), computed once
        per store version, end and answer key: a board view between two uploads costs a version check."""
        with showing:
            current, key_sha256 = keyed.current(stored)
            version = (store.version(), ended, key_sha256)
            if shown["version"] != version:
                lines = standings(stored, ended)
                shown["teams"] = ([{**line, "public_low": None, "public_high": None, "tier": None} for line in lines]
                                  if on_ladder(stored, ended)  # an interval would tell what the ladder hides
                                  else uncertain(lines, ended, current, kept, key_sha256))
                shown["version"] = version
            return shown["teams"]

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @app.post("/api/submissions", status_code=201)
    def upload(request: Request, file: UploadFile = File(...), message: str = Form(""),
               authorization: str | None = Header(None)):
        found = member_of(authorization, request)
        status, body = take_upload(found, file.file.read(), file.filename or "", message)
        return JSONResponse(body, status_code=status)

    def take_upload(found: dict, content: bytes, filename: str, message: str) -> tuple[int, dict]:
        """One upload of a roster member (``found``: ``Store.member_of``), by any route (this API, the
        Kaggle CLI's): the one rule set. ``(HTTP status, answer)``; a refusal before grading raises."""
        team = active(found)
        now = clock.now()
        stored = {**rules.DEFAULTS, **store.settings()}
        late = rules.ended(stored, now)
        if late and not stored["late"]:
            store.record("refused", f"an upload of team {team!r} ({found['member']}): after the end")
            raise HTTPException(403, "the competition has ended: uploads are closed")
        if len(message) > MAX_MESSAGE:
            raise HTTPException(400, f"message of {len(message)} characters, over the limit of {MAX_MESSAGE}")
        refused = over_quota(team, stored, now)
        if refused is not None:  # before any grading: a refused upload costs the graders nothing
            store.record("refused", f"an upload of team {team!r} ({found['member']}): {refused[1]['error']}")
            return refused
        name = Path((filename or "upload.csv").replace("\\", "/")).name[:100] or "upload.csv"
        while True:
            current, key_sha256 = keyed.current(stored)
            assessed = grading.assess(current, key_sha256, content, source=name)  # the CPU's part, in turn
            try:  # the disk's part (kept file, row, fsyncs) here, while the next upload grades
                result = current.grade(content, store, team=team, file=name, name=name, message=message, now=now,
                                       extra={"member": found["member"], "late": late, "key_sha256": key_sha256},
                                       daily_limit=stored["daily_limit"], failed_limit=stored["failed_limit"],
                                       assessed=assessed)
                break
            except StaleKey:  # a rescore changed the key while this upload graded: again, with the new key
                stored = {**rules.DEFAULTS, **store.settings()}
        log_upload(result, team, found["member"])
        quota = {"submissions_left_today": result["submissions_left_today"], "resets_at": result["resets_at"]}
        if result["status"] == "over-limit":
            store.record("refused", f"an upload of team {team!r} ({found['member']}): {result['error']}")
            return 429, {"error": result["error"], **quota}
        if result["status"] == "error":
            return 400, {"error": result["error"], "id": result["id"], **quota}
        scores = shown_scores(stored, late, team)
        body = {**team_view(result, stored, late, scores), **quota, "duplicate": result["duplicate"],
                "rank": None if result.get("late") else rank_of(team, standings(stored, False))}
        if scores is not None and not result.get("late"):
            earlier = [i for i in scores if i < result["id"]]
            body["ladder"] = ladder.note(scores[result["id"]], scores[max(earlier)] if earlier else None,
                                         stored["ladder_step"])
        return 200 if result["duplicate"] else 201, body

    @app.get("/api/submissions")
    def own_submissions(request: Request, authorization: str | None = Header(None)):
        found = member_of(authorization, request)
        now = clock.now()
        stored = {**rules.DEFAULTS, **store.settings()}
        ended = rules.ended(stored, now)
        start, resets = clock.day(now)
        used = store.counted_since(found["team"], start)
        scores = shown_scores(stored, ended, found["team"])
        return {"team": found["team"], "member": found["member"], "disabled": found["disabled"], "ended": ended,
                "deadline": stored["deadline"], "final_picks": stored["final_picks"],
                "quota": {"daily_limit": stored["daily_limit"], "resets_at": clock.iso(resets),
                          "submissions_left_today": max(0, stored["daily_limit"] - used)},
                "public_board": stored["public_board"],
                "submissions": [team_view(row, stored, ended, scores) for row in store.submissions(found["team"])]}

    @app.post("/api/submissions/{submission}/select")
    def select(submission: int, request: Request, authorization: str | None = Header(None)):
        return change_pick(submission, True, authorization, request)

    @app.delete("/api/submissions/{submission}/select")
    def unselect(submission: int, request: Request, authorization: str | None = Header(None)):
        return change_pick(submission, False, authorization, request)

    def change_pick(submission: int, chosen: bool, authorization: str | None, request: Request):
        team = active(member_of(authorization, request))
        if not 0 < submission < 2 ** 63:  # beyond SQLite's integers: no such row
            raise HTTPException(404, f"no submission {submission} of team {team!r}")
        try:
            row = store.select(team, submission, chosen, {**rules.DEFAULTS, **store.settings()}["final_picks"])
        except Frozen as exc:
            raise HTTPException(403, str(exc)) from None
        except StoreError as exc:
            status = 404 if "no submission" in str(exc) else 409
            raise HTTPException(status, str(exc)) from None
        stored = {**rules.DEFAULTS, **store.settings()}
        ended = rules.ended(stored, clock.now())
        return team_view(row, stored, ended, shown_scores(stored, ended, team))

    encoded = {"version": None, "body": b""}  # the board's answer as JSON bytes, and what it was made from
    encoding = threading.Lock()

    @app.get("/api/leaderboard")
    def leaderboard():
        """The board as JSON, encoded once per store version, end and answer key (the settings it
        shows live in the store, so its version covers them): a view between two uploads costs a
        version check and a settings read, not an encoding of every line."""
        version = store.version()  # read first: what is built below is never older than the key it is kept under
        stored = {**rules.DEFAULTS, **store.settings()}
        ended, (key, key_sha256) = rules.ended(stored, clock.now()), keyed.current(stored)  # a rescored key shows
        with encoding:
            if encoded["version"] != (version, ended, key_sha256):
                encoded["body"] = json.dumps(
                    {"competition": title(stored), "revealed": ended, "ended": ended, "deadline": stored["deadline"],
                     "metric": key.metric, "higher_is_better": key.higher_is_better, "public_rows": key.public_rows,
                     "test_rows": len(key.solution), "teams": board_lines(stored, ended)},
                    ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
                encoded["version"] = (version, ended, key_sha256)
            return Response(content=encoded["body"], media_type="application/json")

    @app.get("/api/admin")
    def admin(request: Request, authorization: str | None = Header(None)):
        check_admin(authorization, request)
        now = clock.now()
        stored = {**rules.DEFAULTS, **store.settings()}
        shown = {rules.FLAGS[key]: rules.shown(key, stored[key]) for key in rules.DEFAULTS}
        shown["state"] = "ended" if rules.ended(stored, now) else "open"
        shown["answer key"] = stored.get("solution") or stored.get("solution_default")
        every = store.submissions()
        return {"settings": shown, "teams": store.activity(now), "activity": uploads_per_hour(store, now),
                "journal": store.journal(), "sameness": alike(every),
                "submissions": [{key: row[key] for key in ("id", "team", "member", "time", "name", "message",
                                                           "status", "error", "public", "private", "late",
                                                           "selected", "void_reason")} for row in every]}

    looked = {"version": None, "pairs": []}  # sameness, computed again only when the store has changed

    def alike(every: list[dict]) -> list[dict]:
        version = store.version()
        if looked["version"] != version:
            looked["pairs"], looked["version"] = sameness.pairs(every, store.files), version
        return looked["pairs"]

    def data_zip() -> tuple[Path, str]:
        """The competitor's folder as one zip (built at the first download): its path and sha256."""
        with packed["lock"]:
            if packed["zip"] is None:
                packed["zip"] = pack_competition(grader.data, store.files,
                                                 exclude=[path for path in (keyed.given, keyed.grader.solution_path) if path])
            return packed["zip"]

    @app.get("/api/data")
    def data(request: Request, authorization: str | None = Header(None)):
        member_of(authorization, request)
        path, sha256 = data_zip()
        return FileResponse(path, media_type="application/zip", filename=f"{grader.data.name}.zip",
                            headers={DATA_SHA256_HEADER: sha256})

    def page(name: str, request: Request, **values) -> HTMLResponse:
        stored = {**rules.DEFAULTS, **store.settings()}
        return HTMLResponse(pages.get_template(f"{name}.html").render(
            title=title(stored), root=request.scope.get("root_path", "").rstrip("/"), stored=stored, **values))

    @app.get("/", response_class=HTMLResponse)
    def leaderboard_page(request: Request):
        stored = {**rules.DEFAULTS, **store.settings()}
        now = clock.now()
        ended = rules.ended(stored, now)
        lines, (key, _) = board_lines(stored, ended), keyed.current(stored)
        return page("leaderboard", request, page="board", ended=ended, lines=lines, teams_count=len(store.teams()),
                    tied=tied(lines, "private" if ended else "public"), tie_rule=TIE_RULE,
                    marks=whiskers(lines, "private" if ended else "public", key.higher_is_better),
                    confidence=uncertainty.DEFAULT_CONFIDENCE, shakeup=shakeup_sentence(lines) if ended else None,
                    daily_limit=stored["daily_limit"], final_picks=stored["final_picks"], deadline=stored["deadline"],
                    ended_at=stored.get("revealed") or stored["deadline"], resets_at=clock.iso(clock.day(now)[1]),
                    public_rows=key.public_rows, test_rows=len(key.solution),
                    metric=key.metric, higher_is_better=key.higher_is_better)

    @app.get("/me", response_class=HTMLResponse)
    def team_page(request: Request):
        return page("me", request, page="me")

    @app.get("/admin", response_class=HTMLResponse)
    def admin_page(request: Request):
        return page("admin", request, page="admin")

    @app.get("/submit", response_class=HTMLResponse)
    def submit_page(request: Request):
        stored = {**rules.DEFAULTS, **store.settings()}
        return page("submit", request, page="submit", daily_limit=stored["daily_limit"], max_bytes=settings.max_bytes,
                    ended=rules.ended(stored, clock.now()), late=stored["late"])

    @app.get("/overview", response_class=HTMLResponse)
    def overview_page(request: Request):
        stored = {**rules.DEFAULTS, **store.settings()}
        return page("overview", request, page="overview", ended=rules.ended(stored, clock.now()),
                    overview=competition_pages.render_markdown(competition_pages.overview_text(stored, grader.data)),
                    metric=keyed.grader.metric, higher_is_better=keyed.grader.higher_is_better,
                    public_rows=keyed.grader.public_rows, test_rows=len(keyed.grader.solution),
                    daily_limit=stored["daily_limit"], final_picks=stored["final_picks"],
                    failed_limit=stored["failed_limit"], deadline=stored["deadline"], late=stored["late"],
                    ended_at=stored.get("revealed") or stored["deadline"])

    @app.get("/data", response_class=HTMLResponse)
    def data_page(request: Request):
        exclude = [keyed.grader.solution_path]
        return page("data", request, page="data", files=competition_pages.listing(grader.data, exclude),
                    size=competition_pages.size, columns=competition_pages.sample_columns(Layout(grader.data).sample_csv),
                    classes=competition_pages.class_names(grader.data, keyed.grader.classes),
                    folder=grader.data.name, test_rows=len(keyed.grader.solution))

    @app.post("/data/download")
    def data_download(request: Request, token: str = Form(""), what: str = Form("zip")):
        """The browser's download: the token in a POST form's body, never in an address."""
        if (store.member_of(token.strip()) if token.strip() else None) is None:
            try:
                refuse_token(request)
            except HTTPException as exc:  # a browser has no header to send: say what to type instead
                raise HTTPException(exc.status_code, "wrong or missing token: type the token your teacher gave you"
                                    if exc.status_code == 401 else exc.detail, headers=exc.headers) from None
        if what == "sample":
            return FileResponse(Layout(grader.data).sample_csv, media_type="text/csv", filename="test_sample.csv")
        path, sha256 = data_zip()
        return FileResponse(path, media_type="application/zip", filename=f"{grader.data.name}.zip",
                            headers={DATA_SHA256_HEADER: sha256})

    app.include_router(kaggle_api.router(kaggle_api.Served(
        name=grader.data.name, store=store, keyed=keyed, max_bytes=settings.max_bytes, take_upload=take_upload,
        standings=standings, data_zip=data_zip, wrong_token=throttle.failed, title=title,
        shown_scores=shown_scores)))
    app.add_middleware(kaggle_api.AbsoluteForm)  # outermost: 'POST http://localhost/api/v1/... HTTP/1.1' too
    app.state.store, app.state.grader = store, grader
    return app


SETTINGS_ENV = "COMPETITION_GRADER_SETTINGS"  # serve --workers N: where each worker finds its settings


def settings_to_environment(settings: Settings) -> None:
    """For worker processes: the settings ``serve`` checked (and stored, at a first start), as JSON."""
    os.environ[SETTINGS_ENV] = json.dumps({"data": str(settings.data), "db": str(settings.db),
                                           "solution": str(settings.solution) if settings.solution else None,
                                           "max_bytes": settings.max_bytes, "graders": settings.graders})


def app_from_environment() -> FastAPI:
    """The application of one worker process of ``serve --workers N`` (uvicorn imports this factory).
    The first start's settings are in the database already, so a worker passes no flags."""
    given = json.loads(os.environ[SETTINGS_ENV])
    return create_app(Settings(data=Path(given["data"]), db=Path(given["db"]), max_bytes=given["max_bytes"],
                               graders=given["graders"],
                               solution=Path(given["solution"]) if given["solution"] else None))
