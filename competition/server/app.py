"""The grader server's HTTP application (FastAPI): uploads, own submissions, final picks, the
leaderboard as JSON and as a page, and an upload page.

Every error is ``{"error": "..."}`` with the validator's own message. A request body over
``max_bytes`` is refused with 413 while it is being read (``LimitBody``), not after. Private
scores appear in no response before the reveal (or the deadline); the answer key and uploaded
files are served by no URL; team names and messages are escaped wherever a page shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI, File, Form, Header, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from .. import clock
from ..grade import Grader
from .store import Store, StoreError

TEMPLATES = Path(__file__).with_name("templates")
MAX_MESSAGE = 500  # characters of a submission's message
PUBLIC_FIELDS = ("id", "time", "name", "message", "status", "error", "public", "public_rows", "selected")


@dataclass
class Settings:
    data: Path
    db: Path = Path("grader.sqlite")
    solution: Path | None = None
    daily_limit: int = 5
    failed_limit: int = 20
    max_bytes: int = 10 * 1024 * 1024
    deadline: datetime | None = None
    final_picks: int = 2
    title: str = ""
    extra: dict = field(default_factory=dict)


class BodyTooLarge(Exception):
    pass


class LimitBody:
    """ASGI middleware: refuse a POST body over ``max_bytes`` with 413, by its Content-Length or
    while it streams in (a client may lie or send no length), before the application reads on."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST":
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


def public_view(row: dict, revealed: bool) -> dict:
    """What a team may see of its own submission: the private score only after the reveal."""
    view = {key: row.get(key) for key in PUBLIC_FIELDS}
    view["selected"] = bool(view["selected"])
    if revealed:
        view["private"] = row.get("private")
    return view


def team_standings(rows: list[dict], revealed: bool) -> list[dict]:
    """One line per team. Before the reveal: its best public score, ranked by it (earlier first
    among equals). After: Kaggle's rule, the best private score among its final picks, or of its
    best-public submission when it picked none."""
    teams: dict[str, list[dict]] = {}
    for row in rows:
        if row["status"] == "ok":
            teams.setdefault(row["team"], []).append(row)
    lines = []
    for team, counted in teams.items():
        best_public = max(counted, key=lambda r: (r["public"], -r["id"]))
        line = {"team": team, "public": best_public["public"], "submissions": len(counted),
                "last": max(r["time"] for r in counted), "reached": best_public["time"]}
        if revealed:
            picks = [r for r in counted if r["selected"]] or [best_public]
            line["private"] = max(r["private"] for r in picks)
            line["picks"] = [r["id"] for r in picks]
        lines.append(line)
    key = (lambda l: (-l["private"], l["reached"])) if revealed else (lambda l: (-l["public"], l["reached"]))
    lines.sort(key=key)
    for rank, line in enumerate(lines, start=1):
        line["rank"] = rank
    return lines


def create_app(settings: Settings) -> FastAPI:
    """The application for one competition (the answer key is read and checked here, once)."""
    grader = Grader(settings.data, settings.solution, daily_limit=settings.daily_limit,
                    failed_limit=settings.failed_limit)
    store = Store(settings.db)
    if settings.deadline is not None:
        store.set_setting("deadline", clock.iso(settings.deadline))
    pages = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    title = settings.title or grader.data.name
    app = FastAPI(title=f"{title} grader", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(LimitBody, max_bytes=settings.max_bytes)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError):
        where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": f"malformed request ({where})"}, status_code=400)

    def team_of(authorization: str | None) -> str:
        scheme, _, token = (authorization or "").partition(" ")
        team = store.team_of(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
        if team is None:
            raise HTTPException(401, "missing or invalid token (send Authorization: Bearer TOKEN)",
                                headers={"WWW-Authenticate": "Bearer"})
        return team

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @app.post("/api/submissions", status_code=201)
    def upload(file: UploadFile = File(...), message: str = Form(""), authorization: str | None = Header(None)):
        team = team_of(authorization)
        now = clock.now()
        if store.revealed(now):
            raise HTTPException(403, "the competition has ended: private scores are revealed, uploads are closed")
        if len(message) > MAX_MESSAGE:
            raise HTTPException(400, f"message of {len(message)} characters, over the limit of {MAX_MESSAGE}")
        name = Path((file.filename or "upload.csv").replace("\\", "/")).name[:100] or "upload.csv"
        result = grader.grade(file.file.read(), store, team=team, file=name, name=name, message=message, now=now)
        quota = {"submissions_left_today": result["submissions_left_today"], "resets_at": result["resets_at"]}
        if result["status"] == "over-limit":
            return JSONResponse({"error": result["error"], **quota}, status_code=429)
        if result["status"] == "error":
            return JSONResponse({"error": result["error"], "id": result["id"], **quota}, status_code=400)
        rank = 1 + sum(1 for line in team_standings(store.submissions(), False)
                       if line["public"] > result["public"] and line["team"] != team)
        body = {**public_view(result, False), **quota, "rank": rank, "duplicate": result["duplicate"]}
        return JSONResponse(body, status_code=200 if result["duplicate"] else 201)

    @app.get("/api/submissions")
    def own_submissions(authorization: str | None = Header(None)):
        team = team_of(authorization)
        revealed = store.revealed()
        return {"team": team, "submissions": [public_view(row, revealed) for row in store.submissions(team)]}

    @app.post("/api/submissions/{submission}/select")
    def select(submission: int, authorization: str | None = Header(None)):
        return change_pick(submission, True, authorization)

    @app.delete("/api/submissions/{submission}/select")
    def unselect(submission: int, authorization: str | None = Header(None)):
        return change_pick(submission, False, authorization)

    def change_pick(submission: int, chosen: bool, authorization: str | None):
        team = team_of(authorization)
        try:
            row = store.select(team, submission, chosen, settings.final_picks)
        except StoreError as exc:
            status = 404 if "no submission" in str(exc) else 409
            raise HTTPException(status, str(exc)) from None
        return public_view(row, store.revealed())

    @app.get("/api/leaderboard")
    def leaderboard():
        revealed = store.revealed()
        return {"competition": title, "revealed": revealed, "teams": team_standings(store.submissions(), revealed)}

    @app.get("/", response_class=HTMLResponse)
    def leaderboard_page():
        revealed = store.revealed()
        return pages.get_template("leaderboard.html").render(
            title=title, revealed=revealed, lines=team_standings(store.submissions(), revealed),
            daily_limit=settings.daily_limit, final_picks=settings.final_picks,
            deadline=store.setting("deadline"), resets_at=clock.iso(clock.day(clock.now())[1]))

    @app.get("/submit", response_class=HTMLResponse)
    def submit_page():
        return pages.get_template("submit.html").render(title=title, daily_limit=settings.daily_limit,
                                                        max_bytes=settings.max_bytes)

    app.state.store, app.state.grader = store, grader
    return app
