"""The official Kaggle CLI's protocol on our grader: ``kaggle competitions submit``, ``submissions``,
``submission-limits``, ``leaderboard``, ``files``, ``download`` and ``list`` answered for the one
served competition, so a class keeps the client it knows.

kaggle 2.x (and 1.8.4) call ``POST {base}/competitions.CompetitionApiService/<Method>`` with a
camelCase JSON body (field lists: kagglesdk's ``competitions/types/competition_api_service.py``);
``KAGGLE_API_ENVIRONMENT=LOCALHOST`` fixes ``base`` to ``http://localhost/api/v1``, and
``HTTP_PROXY=http://GRADER:PORT`` brings those requests here in absolute form (``AbsoluteForm``
takes them as our own paths). Auth is HTTP Basic ``username:key`` = roster member : its token.

Nothing here decides a rule: an upload goes through the application's ``take_upload`` (the same
quota, picks, deadline, late rule, grader and metric as ``POST /api/submissions``), the board is
``standings.py``'s team board, the data the same zip as ``GET /api/data``. Submitting is three
calls: ``StartSubmissionUpload`` hands out a URL with a one-time upload ticket (never the member's
token: URLs get logged), the CLI ``PUT``s the raw bytes there, and ``CreateSubmission`` grades them.
The pending bytes wait in ``<db>.kaggle/`` (shared by every worker process), at most an hour.
Errors are ``{"code", "message"}`` (the CLI prints the message), with ``"error"`` as everywhere else.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import json
import os
import secrets
import time
import zipfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from .. import clock
from ..fsutil import write_bytes_atomic
from . import settings as rules
from .bundle import competition_files
from .served import Served, served_by

SERVICE = "competitions.CompetitionApiService"
UPLOADS = "/api/v1/kaggle-uploads"  # PUT {UPLOADS}/{ticket}: the bytes of one submission
DATA = "/api/v1/kaggle-data"  # GET {DATA}/{name}.zip, {DATA}/files/{path}: what DownloadDataFile(s) redirect to
TICKET_SECONDS = 3600  # an upload not submitted within this long is forgotten
OPEN_UPLOADS = 3  # a member's pending uploads at most (older ones are dropped): the disk stays bounded
PAGE_SIZE = 20


class KaggleError(Exception):
    """A refusal, answered ``{"code", "message"}`` with ``code`` as the HTTP status."""

    def __init__(self, code: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.code, self.message, self.headers = code, message, headers


def refusal(code: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "error": message}, status_code=code, headers=headers)


def pending_folder(served: Served) -> Path:
    """Where uploads wait between ``StartSubmissionUpload`` and ``CreateSubmission``: beside the database."""
    return served.store.path.with_name(served.store.path.name + ".kaggle")


# --- reaching the server ---
class AbsoluteForm:
    """ASGI middleware: a request target in absolute form (``POST http://localhost/api/v1/... HTTP/1.1``,
    what a client sends through ``HTTP_PROXY``) is taken as its path, as RFC 9112 asks of a server;
    uvicorn hands the whole URL over as the path, which no route would match."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            root = scope.get("root_path", "")
            target = scope["path"][len(root):] if scope["path"].startswith(root) else scope["path"]
            if target.lower().startswith(("http://", "https://")):
                path = "/" + target.split("://", 1)[1].partition("/")[2]
                raw = scope.get("raw_path") or b""
                raw_path = b"/" + raw.split(b"://", 1)[1].partition(b"/")[2] if b"://" in raw else path.encode()
                scope = {**scope, "path": root + path, "raw_path": raw_path}
        await self.app(scope, receive, send)


# --- who asks ---
def credentials(request: Request) -> tuple[str | None, str]:
    """``(username, key)`` of HTTP Basic (kaggle.json), ``(None, token)`` of Bearer, else ``(None, "")``."""
    scheme, _, value = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() == "bearer":
        return None, value.strip()
    if scheme.lower() != "basic":
        return None, ""
    try:
        username, _, key = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None, ""
    return username, key


def member(served: Served, request: Request, required: bool = True) -> dict | None:
    """The roster member a request's kaggle.json names (``Store.member_of``); a wrong one is refused
    with 403, not 401: the CLI answers a 401 with Kaggle's own sign-up help and drops our message."""
    username, key = credentials(request)
    if not key and not required:
        return None
    found = served.store.member_of(key) if key else None
    if found is not None and (username is None or username == found["member"]):
        return found
    wait = served.wrong_token(request.client.host if request.client else "?")
    if wait:
        raise KaggleError(429, f"too many wrong tokens from your address; try again in {wait} s",
                          {"Retry-After": str(wait)})
    if not key:
        raise KaggleError(403, "no credentials: kaggle.json needs your member name as username and your token as key")
    if found is None:
        raise KaggleError(403, "wrong token: the key in kaggle.json is no member's token on this grader (ask your "
                               "teacher for a new one)")
    raise KaggleError(403, f"wrong username {username!r}: this token is member {found['member']!r}'s (kaggle.json's "
                           f"username must be {found['member']!r})")


def competition(served: Served, body: dict, key: str = "competitionName") -> None:
    name = body.get(key)
    if name != served.name:
        raise KaggleError(404, f"no competition {name!r} on this grader: it serves {served.name!r}")


def current(served: Served) -> tuple[dict, bool]:
    """The stored settings (defaults filled in) and whether the competition has ended."""
    stored = served.stored()
    return stored, rules.ended(stored, clock.now())


def kaggle_score(value) -> str:
    """A score as the Kaggle API sends it: text with six decimals, empty where there is none."""
    return "" if value is None else f"{value:.6f}"


def paged(items: list, body: dict) -> tuple[list, str]:
    """One page of ``items`` (``pageSize``, ``pageToken``: the offset as text) and the next token."""
    size = body.get("pageSize") or PAGE_SIZE
    token = body.get("pageToken") or "0"
    start = int(token) if str(token).isdigit() else 0
    if not isinstance(size, int) or size < 1:
        size = PAGE_SIZE
    end = start + size
    return items[start:end], str(end) if end < len(items) else ""


def with_score(text: str, value) -> str:
    return f"{text}, public {value:.4f}" if value is not None else text


# --- the methods ---
def list_competitions(served: Served, body: dict, request: Request) -> dict:
    found = member(served, request, required=False)
    stored, ended = current(served)
    search = (body.get("search") or "").lower()
    if search and search not in served.name.lower() and search not in served.title(stored).lower():
        return {"competitions": []}
    lines = served.standings(stored, ended)
    grader = served.keyed.grader
    entry = {"id": 1, "ref": served.name, "title": served.title(stored), "url": str(request.base_url).rstrip("/"),
             "category": "Playground", "reward": "Knowledge", "teamCount": len(lines),
             "userHasEntered": found is not None, "maxDailySubmissions": stored["daily_limit"],
             "evaluationMetric": grader.metric, "submissionsDisabled": ended and not stored["late"],
             "hostName": "grader"}
    if stored["deadline"]:
        entry["deadline"] = stored["deadline"]
    rank = next((line["rank"] for line in lines if found and line["team"] == found["team"]), None)
    if rank is not None:
        entry["userRank"] = rank
    return {"competitions": [entry]}


def start_submission_upload(served: Served, body: dict, request: Request) -> dict:
    found = member(served, request)
    competition(served, body)
    size = body.get("contentLength") or 0
    if isinstance(size, int) and size > served.max_bytes:
        raise KaggleError(413, f"file of {size:,} bytes, over the limit of {served.max_bytes:,} bytes")
    folder = pending_folder(served)
    folder.mkdir(mode=0o700, exist_ok=True)
    forget_old(folder, found["member"])
    ticket = secrets.token_urlsafe(32)
    entry = {"member": found["member"], "file": str(body.get("fileName") or "upload.csv"), "time": time.time()}
    write_bytes_atomic(folder / f"{ticket_name(ticket)}.json", json.dumps(entry).encode(), secret=True)
    return {"token": ticket, "createUrl": f"{str(request.base_url).rstrip('/')}{UPLOADS}/{ticket}"}


def ticket_name(ticket: str) -> str:
    """A pending upload's file name: the ticket's hash (the folder never holds a usable ticket)."""
    return hashlib.sha256(ticket.encode("utf-8")).hexdigest()


def forget_old(folder: Path, member_name: str) -> None:
    """Drop pending uploads older than ``TICKET_SECONDS``, and ``member_name``'s beyond the newest few."""
    mine = []
    for entry in folder.glob("*.json"):
        try:
            found = json.loads(entry.read_text())
        except (OSError, ValueError):
            continue
        if time.time() - found.get("time", 0) > TICKET_SECONDS:
            drop(entry)
        elif found.get("member") == member_name:
            mine.append((found["time"], entry))
    for _, entry in sorted(mine)[:max(0, len(mine) - OPEN_UPLOADS + 1)]:
        drop(entry)


def drop(entry: Path) -> None:
    entry.unlink(missing_ok=True)
    entry.with_suffix(".csv").unlink(missing_ok=True)


def pending(served: Served, ticket: str) -> tuple[Path, dict]:
    entry = pending_folder(served) / f"{ticket_name(ticket)}.json"
    try:
        found = json.loads(entry.read_text())
    except (OSError, ValueError):
        found = None
    if not found or time.time() - found.get("time", 0) > TICKET_SECONDS:
        raise KaggleError(404, "unknown or expired upload (an upload is kept an hour): submit again")
    return entry, found


def put_upload(served: Served, ticket: str, content: bytes) -> dict:
    entry, _ = pending(served, ticket)
    try:
        fd = os.open(entry.with_suffix(".csv"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KaggleError(409, "this upload URL has been used already: submit again") from None
    with os.fdopen(fd, "wb") as file:
        file.write(content)
    return {}


def create_submission(served: Served, body: dict, request: Request) -> dict:
    found = member(served, request)
    competition(served, body)
    entry, upload = pending(served, str(body.get("blobFileTokens") or ""))
    if upload["member"] != found["member"]:
        raise KaggleError(403, "this upload was started by another member")
    kept = entry.with_suffix(".csv")
    try:
        claimed = entry.rename(entry.with_suffix(".taken"))  # one CreateSubmission per upload, whoever comes first
    except FileNotFoundError:
        raise KaggleError(404, "unknown or expired upload: submit again") from None
    try:
        content = kept.read_bytes()
    except FileNotFoundError:
        raise KaggleError(400, "the file never arrived (the upload's PUT failed): submit again") from None
    finally:
        claimed.unlink(missing_ok=True)
        kept.unlink(missing_ok=True)
    try:
        status, answer = served.take_upload(found, content, upload["file"], body.get("submissionDescription") or "")
    except HTTPException as exc:
        raise KaggleError(exc.status_code, str(exc.detail)) from None
    if status >= 400:
        raise KaggleError(status, answer["error"])
    if answer["duplicate"]:
        said = f"the same file as submission {answer['id']}, not counted again"
    elif answer.get("late"):
        said = f"submission {answer['id']} (late: scored for your team, not ranked)"
    else:
        said = f"submission {answer['id']}, rank {answer['rank']}"
    return {"message": with_score(f"Successfully submitted to {served.name}: {said}", answer["public"]),
            "ref": answer["id"]}


def submission_view(row: dict, ended: bool, shown: dict[int, float] | None) -> dict:
    """A stored row as kagglesdk's ``ApiSubmission``: scores as text, the private one only after the end;
    on the Ladder's public board (``shown``: ``Served.shown_scores``) the public score it shows."""
    public = row["public"] if shown is None else shown.get(row["id"], row["public"])
    view = {"ref": row["id"], "date": row["time"], "description": row["message"] or "", "fileName": row["name"],
            "status": "COMPLETE" if row["status"] == "ok" else "ERROR", "publicScore": kaggle_score(public),
            "privateScore": kaggle_score(row["private"]) if ended else "", "submittedBy": row.get("member") or "",
            "teamName": row["team"]}
    if row["status"] != "ok":
        view["errorDescription"] = row.get("error") or row["status"]
    return view


def get_submission(served: Served, body: dict, request: Request) -> dict:
    found = member(served, request)
    stored, ended = current(served)
    row = next((r for r in served.store.submissions(found["team"]) if r["id"] == body.get("ref")), None)
    if row is None:
        raise KaggleError(404, f"team {found['team']!r} has no submission {body.get('ref')}")
    return submission_view(row, ended, served.shown_scores(stored, ended, found["team"]))


def list_submissions(served: Served, body: dict, request: Request) -> dict:
    found = member(served, request)
    competition(served, body)
    stored, ended = current(served)
    rows = sorted(served.store.submissions(found["team"]), key=lambda r: r["id"], reverse=True)  # newest first
    page, token = paged(rows, body)
    shown = served.shown_scores(stored, ended, found["team"])
    return {"submissions": [submission_view(row, ended, shown) for row in page], "nextPageToken": token}


def get_submission_limits(served: Served, body: dict, request: Request) -> dict:
    found = member(served, request)
    competition(served, body)
    stored, _ = current(served)
    used = served.store.counted_since(found["team"], clock.day(clock.now())[0])  # as GET /api/submissions counts
    total = sum(1 for r in served.store.submissions(found["team"]) if r["status"] == "ok" and not r["late"])
    return {"numToday": used, "numTotal": total, "numAllowedNow": max(0, stored["daily_limit"] - used),
            "limitedByTotal": False}


def board(served: Served) -> list[dict]:
    """standings.py's team board as kagglesdk's ``ApiLeaderboardSubmission``: the private score once ended."""
    stored, ended = current(served)
    ids = dict(served.store.connection().execute("SELECT name, rowid FROM teams"))
    return [{"teamId": ids.get(line["team"], 0), "teamName": line["team"],
             "submissionDate": line["final_time"] if ended else line["reached"],
             "score": kaggle_score(line["private"] if ended else line["public"]), "rank": line["rank"]}
            for line in served.standings(stored, ended)]


def get_leaderboard(served: Served, body: dict, request: Request) -> dict:
    member(served, request, required=False)
    competition(served, body)
    page, token = paged(board(served), body)
    return {"submissions": [{k: v for k, v in line.items() if k != "rank"} for line in page], "nextPageToken": token}


def download_leaderboard(served: Served, body: dict, request: Request) -> Response:
    member(served, request, required=False)
    competition(served, body)
    text = io.StringIO()
    table = csv.writer(text, lineterminator="\n")
    table.writerow(["Rank", "TeamId", "TeamName", "LastSubmissionDate", "Score"])
    table.writerows([line["rank"], line["teamId"], line["teamName"], line["submissionDate"], line["score"]]
                    for line in board(served))
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr(f"{served.name}-leaderboard.csv", text.getvalue())
    return Response(packed.getvalue(), media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{served.name}.zip"'})


def data_files(served: Served) -> dict[str, Path]:
    """The competitor's files by their path in the zip (the same list ``bundle.py`` packs)."""
    root = served.keyed.grader.data
    return {path.relative_to(root).as_posix(): path
            for path in competition_files(root)}


def list_data_files(served: Served, body: dict, request: Request) -> dict:
    member(served, request)
    competition(served, body)
    files = sorted(data_files(served).items())
    page, token = paged(files, body)
    return {"files": [{"ref": name, "name": name, "totalBytes": path.stat().st_size,
                       "creationDate": clock.iso(datetime.fromtimestamp(path.stat().st_mtime, timezone.utc))}
                      for name, path in page],
            "nextPageToken": token}


def download_data_files(served: Served, body: dict, request: Request) -> Response:
    member(served, request)
    competition(served, body)
    return RedirectResponse(f"{str(request.base_url).rstrip('/')}{DATA}/{served.name}.zip", status_code=302)


def download_data_file(served: Served, body: dict, request: Request) -> Response:
    member(served, request)
    competition(served, body)
    name = str(body.get("fileName") or "")
    if name not in data_files(served):
        raise KaggleError(404, f"no file {name!r} in {served.name} "
                               f"(kaggle competitions files {served.name} lists them)")
    return RedirectResponse(f"{str(request.base_url).rstrip('/')}{DATA}/files/{name}", status_code=302)


METHODS = {"ListCompetitions": list_competitions, "StartSubmissionUpload": start_submission_upload,
           "CreateSubmission": create_submission, "GetSubmission": get_submission,
           "ListSubmissions": list_submissions, "GetSubmissionLimits": get_submission_limits,
           "GetLeaderboard": get_leaderboard, "DownloadLeaderboard": download_leaderboard,
           "ListDataFiles": list_data_files, "DownloadDataFiles": download_data_files,
           "DownloadDataFile": download_data_file}


router = APIRouter()


async def answer(call: Callable, *args) -> Response:
    """``call(*args)`` in a worker thread, its refusals answered ``{"code", "message"}``."""
    try:
        found = await run_in_threadpool(call, *args)
    except KaggleError as exc:
        return refusal(exc.code, exc.message, exc.headers)
    except HTTPException as exc:
        return refusal(exc.status_code, str(exc.detail), exc.headers)
    return found if isinstance(found, Response) else JSONResponse(found)


@router.post("/api/v1/{service}/{method}")
async def rpc(service: str, method: str, request: Request):
    """One endpoint for every method: the CLI names the method in the path, its fields in the body."""
    if service != SERVICE or method not in METHODS:
        return refusal(404, f"this grader answers no Kaggle call {service}/{method} (it answers "
                            f"{SERVICE}: {', '.join(sorted(METHODS))})")
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return refusal(400, f"{method}: the request body is not JSON")
    if not isinstance(body, dict):
        return refusal(400, f"{method}: the request body is not a JSON object")
    return await answer(METHODS[method], served_by(request), body, request)


@router.put(UPLOADS + "/{ticket}")
async def put(ticket: str, request: Request):
    content = await request.body()
    return await answer(put_upload, served_by(request), ticket, content)


def zipped_data(served: Served, name: str, request: Request) -> Response:
    member(served, request)
    if name != served.name:
        raise KaggleError(404, f"no data {name!r} on this grader: it serves {served.name!r}")
    path, _ = served.data_zip()
    return FileResponse(path, media_type="application/zip", filename=f"{served.name}.zip")


def one_data_file(served: Served, name: str, request: Request) -> Response:
    member(served, request)
    path = data_files(served).get(name)
    if path is None:
        raise KaggleError(404, f"no file {name!r} in {served.name}")
    return FileResponse(path, filename=path.name)


@router.get(DATA + "/{name}.zip")
async def zipped(name: str, request: Request):
    return await answer(zipped_data, served_by(request), name, request)


@router.get(DATA + "/files/{name:path}")
async def data_file(name: str, request: Request):
    return await answer(one_data_file, served_by(request), name, request)
