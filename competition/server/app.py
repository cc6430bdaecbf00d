"""The grader server's HTTP application (FastAPI): uploads, own submissions, final picks, the
leaderboard as JSON and as a page, an upload page, and the competitor's data as a zip. Here: the
application's making (``create_app``: the answer key checked, the first start's settings, one
``served.Served``), its middleware and its error answers; the routes are ``routes.py`` and
``kaggle_api.py``, thin handlers over that ``Served``.

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
import sqlite3
import sys
import threading
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles

from .. import clock, wire
from ..data.records import Layout
from ..errors import InputError
from ..grade.grader import Grader
from . import kaggle_api, routes
from . import settings as rules
from .grading import InProcess, ProcessPool
from .served import Served
from .serving import HeaderLimit
from .store import Store, Unavailable

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")
SECURITY_HEADERS = [  # every answer: no framing, no sniffing, no referrer, nothing loaded from elsewhere
    (b"content-security-policy", (b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                  b"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")),
    (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY")]
BUSY_SECONDS = 5  # an upload waits this long for the database's write lock, then answers 503
RETRY_AFTER = "5"


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


def competition_stamp(data: Path) -> dict:
    """Which competition a database belongs to (kept in its settings as ``fingerprint``): the data
    folder's name and its sample submission's sha256 (not the answer key, which ``rescore`` may correct)."""
    return {"folder": data.name, "sample_sha256": hashlib.sha256(Layout(data).sample_csv.read_bytes()).hexdigest()}


def check_competition_stamp(stored: dict, found: dict, db: Path, data: Path) -> None:
    """A database serves the competition it was made for, never another one's folder."""
    kept = stored.get("fingerprint")
    if kept is not None and kept != found:
        same_name = kept.get("folder") == found["folder"]
        raise InputError(f"--data {data}: the database {db} belongs to another competition ("
                         + ("the same folder name, another test set" if same_name else f"folder {kept.get('folder')!r}")
                         + "); serve that competition's folder, or give a new --db for this one")


def create_app(settings: Settings) -> FastAPI:
    """The application for one competition (the answer key is read and checked here, once): its
    ``Served`` in ``app.state.served``, the routes of ``routes.py`` and ``kaggle_api.py`` over it."""
    store = Store(settings.db, busy_seconds=BUSY_SECONDS)
    stored = store.settings()
    layout = Layout(settings.data)
    layout.check_exists()
    # before anything is written
    check_competition_stamp(stored, competition_stamp(layout.root), settings.db, layout.root)
    keyed = KeyedGrader(settings.data, settings.solution, store)
    grader = keyed.grader
    if keyed.note:
        print(f"note: {keyed.note}", flush=True)
    store.set_settings({**rules.first_start(stored, settings.flags, clock.now()),
                        "data": str(grader.data.resolve()), "fingerprint": competition_stamp(grader.data),
                        "solution_default": str((keyed.given or grader.solution_path).resolve()),
                        "metric": grader.metric, "higher_is_better": grader.higher_is_better,
                        "declared_title": grader.overview.title})
    grading = (ProcessPool(settings.graders, grader, keyed.key_sha256) if settings.graders > 1
               else InProcess())  # uploads grade in arrival order, one at a time per place
    served = Served(store, keyed, grading, Environment(loader=FileSystemLoader(TEMPLATES),
                                                       autoescape=select_autoescape(["html"])), settings.max_bytes)

    @asynccontextmanager
    async def lifespan(app):
        grading.start()  # the grading processes read the key now, not at the first upload; they end with the server
        gc.freeze()  # the application and its key stay out of every collection: no long pause every few uploads
        yield

    app = FastAPI(title="grader", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.served, app.state.store = served, store
    app.add_middleware(HeaderLimit)  # 431 for headers over 16 KiB, however they arrived
    app.add_middleware(LimitBody, max_bytes=settings.max_bytes)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for kind, handler in ERROR_HANDLERS.items():
        app.add_exception_handler(kind, handler)
    app.include_router(routes.router)
    app.include_router(kaggle_api.router)
    app.add_middleware(kaggle_api.AbsoluteForm)  # outermost: 'POST http://localhost/api/v1/... HTTP/1.1' too
    return app


# --- every error as {"error": ...} (a page for a browser) ---
def for_a_browser(request: Request) -> bool:
    """A page asked for by a browser's address bar or form (not the API, not a script's fetch)."""
    path = request.url.path[len(request.scope.get("root_path", "")):]
    return not path.startswith(("/api/", "/static/")) and "text/html" in request.headers.get("accept", "")


async def http_error(request: Request, exc: StarletteHTTPException):
    detail = exc.detail if exc.status_code != 404 or exc.detail != "Not Found" else f"no such page: {request.url.path}"
    if for_a_browser(request):
        answer = request.app.state.served.page("error", request, page="error", status=exc.status_code, detail=detail)
        answer.status_code = exc.status_code
        answer.headers.update({k: v for k, v in (exc.headers or {}).items() if k.lower() != "www-authenticate"})
        return answer
    return JSONResponse({"error": detail}, status_code=exc.status_code, headers=exc.headers)


def refused_upload(request: Request, why: str) -> None:
    """An upload refused by a fault of the server: in the journal too, when the database takes it."""
    if request.method == "POST" and request.url.path.endswith(wire.SUBMISSIONS):
        try:
            request.app.state.store.record("refused", f"an upload: {why}"[:500])
        except Exception:  # noqa: BLE001, S110 (the database is the fault: the server's output has the line)
            pass


async def server_fault(request: Request, exc: Exception):  # a fault of ours: JSON still; Starlette re-raises
    refused_upload(request, f"server fault ({type(exc).__name__}: {exc})")  # it after this, to the server's log
    return JSONResponse({"error": f"the grader failed on this request (an internal error, {type(exc).__name__}, "
                                  f"written to the server's log for the host); nothing was stored, try again "
                                  f"later, and tell the host if it lasts"}, status_code=500)


async def bad_request(request: Request, exc: RequestValidationError):
    where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return JSONResponse({"error": f"malformed request ({where})"}, status_code=400)


async def store_failed(request: Request, exc: sqlite3.Error):  # locked, read-only, full: it passes
    refused_upload(request, f"the database could not be used ({exc})")
    return JSONResponse({"error": f"the grader's database cannot be used now ({exc}); nothing was stored, "
                                  f"try again shortly"}, status_code=503, headers={"Retry-After": RETRY_AFTER})


async def store_unavailable(request: Request, exc: Unavailable):
    refused_upload(request, str(exc))
    return JSONResponse({"error": str(exc)}, status_code=503, headers={"Retry-After": RETRY_AFTER})


ERROR_HANDLERS = {StarletteHTTPException: http_error, Exception: server_fault, RequestValidationError: bad_request,
                  sqlite3.Error: store_failed, Unavailable: store_unavailable}


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
