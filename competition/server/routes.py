"""The grader's own routes, thin: each reads the request, asks the application's ``Served``
(``app.state.served``) and shapes the answer. Paths from ``competition.wire`` (the client's contract);
the pages are Jinja templates. The Kaggle CLI's routes are ``kaggle_api.py``'s.
"""

from __future__ import annotations

from fastapi import APIRouter, File, Form, Header, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from .. import clock, wire
from ..data import uncertainty
from ..data.records import Layout
from ..grade.standings import TIE_RULE, tied
from . import pages as competition_pages
from . import settings as rules
from .boards import shakeup_sentence, whiskers
from .served import ADMIN_FIELDS, Served, served_by, uploads_per_hour
from .store import Frozen, StoreError

router = APIRouter()


@router.get(wire.HEALTH)
def healthz():
    return {"status": "ok"}


@router.post(wire.SUBMISSIONS, status_code=201)
def upload(request: Request, file: UploadFile = File(...), message: str = Form(""),  # noqa: B008 (FastAPI's way)
           authorization: str | None = Header(None)):
    served = served_by(request)
    found = served.member_of(authorization, request)
    status, body = served.take_upload(found, file.file.read(), file.filename or "", message)
    return JSONResponse(body, status_code=status)


@router.get(wire.SUBMISSIONS)
def own_submissions(request: Request, authorization: str | None = Header(None)):
    served = served_by(request)
    found = served.member_of(authorization, request)
    now = clock.now()
    stored = served.stored()
    ended = rules.ended(stored, now)
    start, resets = clock.day(now)
    used = served.store.counted_since(found["team"], start)
    scores = served.shown_scores(stored, ended, found["team"])
    return {"team": found["team"], "member": found["member"], "disabled": found["disabled"], "ended": ended,
            "deadline": stored["deadline"], "final_picks": stored["final_picks"],
            "quota": {"daily_limit": stored["daily_limit"], "resets_at": clock.iso(resets),
                      "submissions_left_today": max(0, stored["daily_limit"] - used)},
            "public_board": stored["public_board"],
            "submissions": [served.team_view(row, ended, scores) for row in served.store.submissions(found["team"])]}


@router.post(wire.SELECT)
def select(submission: int, request: Request, authorization: str | None = Header(None)):
    return change_pick(served_by(request), submission, True, authorization, request)


@router.delete(wire.SELECT)
def unselect(submission: int, request: Request, authorization: str | None = Header(None)):
    return change_pick(served_by(request), submission, False, authorization, request)


def change_pick(served: Served, submission: int, chosen: bool, authorization: str | None, request: Request):
    team = served.active(served.member_of(authorization, request))
    if not 0 < submission < 2 ** 63:  # beyond SQLite's integers: no such row
        raise HTTPException(404, f"no submission {submission} of team {team!r}")
    try:
        row = served.store.select(team, submission, chosen, served.stored()["final_picks"])
    except Frozen as exc:
        raise HTTPException(403, str(exc)) from None
    except StoreError as exc:
        status = 404 if "no submission" in str(exc) else 409
        raise HTTPException(status, str(exc)) from None
    stored = served.stored()
    ended = rules.ended(stored, clock.now())
    return served.team_view(row, ended, served.shown_scores(stored, ended, team))


@router.get(wire.LEADERBOARD)
def leaderboard(request: Request):
    return Response(content=served_by(request).board_json(), media_type="application/json")


@router.get(wire.ADMIN)
def admin(request: Request, authorization: str | None = Header(None)):
    served = served_by(request)
    served.check_admin(authorization, request)
    now = clock.now()
    stored = served.stored()
    shown = {rules.FLAGS[key]: rules.shown(key, stored[key]) for key in rules.DEFAULTS}
    shown["state"] = "ended" if rules.ended(stored, now) else "open"
    shown["answer key"] = stored.get("solution") or stored.get("solution_default")
    every = served.store.submissions()
    return {"settings": shown, "teams": served.store.activity(now), "activity": uploads_per_hour(served.store, now),
            "journal": served.store.journal(), "sameness": served.alike(every),
            "submissions": [{key: row[key] for key in ADMIN_FIELDS} for row in every]}


def zip_answer(served: Served) -> FileResponse:
    path, sha256 = served.data_zip()
    return FileResponse(path, media_type="application/zip", filename=f"{served.name}.zip",
                        headers={wire.DATA_SHA256_HEADER: sha256})


@router.get(wire.DATA)
def data(request: Request, authorization: str | None = Header(None)):
    served = served_by(request)
    served.member_of(authorization, request)
    return zip_answer(served)


@router.get("/", response_class=HTMLResponse)
def leaderboard_page(request: Request):
    served = served_by(request)
    stored = served.stored()
    now = clock.now()
    ended = rules.ended(stored, now)
    lines, (key, _) = served.board_lines(stored, ended), served.keyed.current(stored)
    return served.page("leaderboard", request, page="board", ended=ended, lines=lines,
                       teams_count=len(served.store.teams()), tied=tied(lines, "private" if ended else "public"),
                       tie_rule=TIE_RULE, marks=whiskers(lines, "private" if ended else "public", key.higher_is_better),
                       confidence=uncertainty.DEFAULT_CONFIDENCE, shakeup=shakeup_sentence(lines) if ended else None,
                       daily_limit=stored["daily_limit"], final_picks=stored["final_picks"],
                       deadline=stored["deadline"], ended_at=stored.get("revealed") or stored["deadline"],
                       resets_at=clock.iso(clock.day(now)[1]), public_rows=key.public_rows,
                       test_rows=len(key.solution), metric=key.metric, higher_is_better=key.higher_is_better)


@router.get("/me", response_class=HTMLResponse)
def team_page(request: Request):
    return served_by(request).page("me", request, page="me")


@router.get("/admin", response_class=HTMLResponse)
def admin_page(request: Request):
    return served_by(request).page("admin", request, page="admin")


@router.get("/submit", response_class=HTMLResponse)
def submit_page(request: Request):
    served = served_by(request)
    stored = served.stored()
    return served.page("submit", request, page="submit", daily_limit=stored["daily_limit"],
                       max_bytes=served.max_bytes, ended=rules.ended(stored, clock.now()), late=stored["late"])


@router.get("/overview", response_class=HTMLResponse)
def overview_page(request: Request):
    served = served_by(request)
    stored, grader = served.stored(), served.keyed.grader
    return served.page("overview", request, page="overview", ended=rules.ended(stored, clock.now()),
                       overview=competition_pages.render_markdown(competition_pages.overview_text(stored, served.data)),
                       metric=grader.metric, higher_is_better=grader.higher_is_better,
                       public_rows=grader.public_rows, test_rows=len(grader.solution),
                       daily_limit=stored["daily_limit"], final_picks=stored["final_picks"],
                       failed_limit=stored["failed_limit"], deadline=stored["deadline"], late=stored["late"],
                       ended_at=stored.get("revealed") or stored["deadline"])


@router.get("/data", response_class=HTMLResponse)
def data_page(request: Request):
    served = served_by(request)
    grader = served.keyed.grader
    return served.page("data", request, page="data", files=competition_pages.listing(served.data),
                       size=competition_pages.size,
                       columns=competition_pages.sample_columns(Layout(served.data).sample_csv),
                       classes=competition_pages.class_names(served.data, grader.classes),
                       folder=served.name, test_rows=len(grader.solution))


@router.post("/data/download")
def data_download(request: Request, token: str = Form(""), what: str = Form("zip")):
    """The browser's download: the token in a POST form's body, never in an address."""
    served = served_by(request)
    if (served.store.member_of(token.strip()) if token.strip() else None) is None:
        try:
            served.refuse_token(request)
        except HTTPException as exc:  # a browser has no header to send: say what to type instead
            raise HTTPException(exc.status_code, "wrong or missing token: type the token your teacher gave you"
                                if exc.status_code == 401 else exc.detail, headers=exc.headers) from None
    if what == "sample":
        return FileResponse(Layout(served.data).sample_csv, media_type="text/csv", filename="test_sample.csv")
    return zip_answer(served)
