"""Upload to a grader server, with the verbs of the Kaggle CLI a competitor already knows.

    python -m competition.upload FILE [-m MSG]        # kaggle competitions submit -f FILE -m MSG
    python -m competition.upload submissions          # kaggle competitions submissions
    python -m competition.upload leaderboard          # kaggle competitions leaderboard --show
    python -m competition.upload select ID | unselect ID
    python -m competition.upload download [--out DIR]  # kaggle competitions download
    python -m competition.upload FILE --kaggle COMPETITION   # through the official kaggle package

The server's address and the team's token come from ``--url``/``--token``, else the variables
``COMPETITION_URL``/``COMPETITION_TOKEN``, else a credentials file (``~/.competition/credentials.json``
or ``COMPETITION_CREDENTIALS``: ``{"url": ..., "token": ...}``) that only its owner may read: like
the Kaggle CLI, a token file others can read is refused. A saved token is sent only to the saved
URL: with another server, the token comes from ``--token`` or ``COMPETITION_TOKEN``. The URL may
carry the sub-path a proxy serves the grader under (``https://host/grader``). Each request gives up
after ``--timeout`` seconds in all. Exit code 1 on any refusal, with the server's own message, and
on an answer that is not a grader's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import stat
import sys
from pathlib import Path

from .. import cli, extras, wire
from ..data.loader import load_competition, summary
from ..errors import InputError
from ..fsutil import NotRegularFile, check_regular
from .download import download

VERBS = ("submit", "submissions", "leaderboard", "select", "unselect", "download")
CREDENTIALS = Path.home() / ".competition" / "credentials.json"
TIMEOUT = 60.0  # seconds one request may take in all (--timeout): a silent server cannot hold the client longer
CONNECT_TIMEOUT = 30.0  # of which at most this to connect



TOKEN_HINT = ("give your team's token (from your teacher) with --token TOKEN or COMPETITION_TOKEN=TOKEN, or save "
              "it in the credentials file {path} (see --help)")
CREDENTIALS_HELP = """the credentials file:
  {path}
  (or the file COMPETITION_CREDENTIALS names) saves the grader's address and your team's
  token, so that you need not type them: {{"url": "http://HOST:PORT", "token": "..."}}.
  Only you may read it (chmod 600); its token is sent only to its url. --url and --token,
  then COMPETITION_URL and COMPETITION_TOKEN, come before it."""


class UploadError(InputError):
    """The server refused, could not be reached, or the credentials are missing or unsafe."""


def credentials_file() -> Path:
    return Path(os.environ.get("COMPETITION_CREDENTIALS") or CREDENTIALS)


def read_credentials(path: Path) -> dict:
    """``{"url", "token"}`` from a credentials file only its owner can read, or {} if there is none."""
    if not path.is_file():
        return {}
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UploadError(f"{path}: readable by other users (mode {stat.filemode(mode)}); it holds your token: "
                          f"chmod 600 {path}")
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UploadError(f"{path}: not a JSON credentials file ({exc})") from None
    if not isinstance(found, dict):
        raise UploadError(f'{path}: expected {{"url": ..., "token": ...}}, got a JSON {type(found).__name__}')
    for key in ("url", "token"):
        if key in found and not (isinstance(found[key], str) and found[key]):
            raise UploadError(f'{path}: "{key}" must be a non-empty string, got {json.dumps(found[key])}')
    return found


def server_address(url: str, source: str) -> str:
    """``url`` checked and without a trailing ``/``: http(s), a host, and at most a path (the sub-path a
    proxy serves the grader under, ``https://host/grader``); a query or fragment has no place in it.
    The first step of every command that talks to a grader: without httpx, it says what to install."""
    httpx = extras.require("httpx", "the grader's client (upload, download, submit --upload)")

    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise UploadError(f"{source} {url!r}: not a URL ({exc})") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise UploadError(f"{source} {url!r}: expected http://HOST[:PORT] or https://HOST[:PORT], "
                          "with the proxy's sub-path if it has one (https://HOST/grader)")
    if parsed.query or parsed.fragment:
        raise UploadError(f"{source} {url!r}: a grader's address has no query or fragment (the part from "
                          f"{'?' if parsed.query else '#'}); give http://HOST[:PORT], with a proxy's sub-path if any")
    return url.rstrip("/")


def resolve(url: str | None, token: str | None, need_token: bool = True) -> tuple[str, str | None]:
    """The server's URL and the token: flags, else environment, else the credentials file. A saved
    token belongs to its saved URL: it is never sent to another server."""
    url, source = (url, "--url") if url else (os.environ.get("COMPETITION_URL"), "COMPETITION_URL")
    token = token or os.environ.get("COMPETITION_TOKEN")
    path = credentials_file()
    saved = {} if url and token else read_credentials(path)
    saved_url = saved.get("url") and server_address(saved["url"], f"{path}: url")
    if url:
        url = server_address(url, source)
    elif saved_url:
        url = saved_url
    else:
        raise UploadError(f"no server address: give --url, set COMPETITION_URL, or write it to {path}")
    if not token and saved.get("token"):
        if saved_url == url:
            token = saved["token"]
        elif need_token:
            raise UploadError(f"no team token for {url}: the token saved in {path} is for "
                              f"{saved_url or 'no server (it has no url)'}, and is sent nowhere else; "
                              "give --token or set COMPETITION_TOKEN")
    if need_token and not token:
        raise UploadError(f"no team token: give --token, set COMPETITION_TOKEN, or write it to {path}")
    return url, token


def not_a_grader(url: str, why: str) -> UploadError:
    import httpx

    hint = " (is the sub-path right?)" if httpx.URL(url).path not in ("", "/") else ""
    return UploadError(f"not a competition grader at {url}{hint}: {why}")


async def _request(method: str, url: str, timeout: float, **kwargs):
    import httpx

    async with asyncio.timeout(timeout):  # the whole request: httpx's own timeouts are per read
        async with httpx.AsyncClient(timeout=httpx.Timeout(None, connect=min(CONNECT_TIMEOUT, timeout))) as client:
            return await client.request(method, url, **kwargs)


def call(method: str, url: str, path: str, token: str | None, expect: dict, timeout: float = TIMEOUT,
         **kwargs) -> dict:
    """One request to the grader at ``url``; its JSON answer, checked to hold ``expect`` (key -> type),
    or ``UploadError`` with the server's message and status. At most ``timeout`` seconds in all."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = asyncio.run(_request(method, url + path, timeout, headers=headers, **kwargs))
    except TimeoutError:
        raise UploadError(f"no answer from {url} within {timeout:g} s (--timeout)") from None
    except httpx.HTTPError as exc:
        raise UploadError(f"cannot reach {url} ({str(exc) or type(exc).__name__})") from None
    try:
        answer = response.json()
    except ValueError:
        answer = None
    error = answer.get("error") if isinstance(answer, dict) else None
    if response.status_code >= 400:
        if isinstance(error, str) and response.status_code == 401:
            raise UploadError(f"{error} (HTTP 401): {TOKEN_HINT.format(path=credentials_file())}")
        if isinstance(error, str) and (response.status_code != 404 or path.endswith("/select")):
            raise UploadError(f"{error} (HTTP {response.status_code})")
        raise not_a_grader(url, f"HTTP {response.status_code} for {path}")
    wrong = wire.lacking(answer, expect)
    if isinstance(answer, dict) and not wrong and path == wire.SUBMISSIONS and method == "POST":
        wrong = wire.lacking(answer, wire.LATE if answer.get("late") else wire.RANKED)
    if wrong:
        shown = "an answer that is not JSON" if answer is None and response.content else \
            f"an answer without {', '.join(wrong)}"
        raise not_a_grader(url, f"{shown} for {path} (HTTP {response.status_code})")
    return answer


def read_upload(path: Path) -> bytes:
    """The bytes of the regular file ``path``; a pipe, a device or a folder is refused before any read
    (reading a pipe with no writer would wait forever)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # opening a FIFO without a writer does not block
    except OSError as exc:
        raise UploadError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        check_regular(path, os.fstat(fd))
        with os.fdopen(os.dup(fd), "rb") as file:
            return file.read()
    except NotRegularFile as exc:
        raise UploadError(f"{exc}; nothing uploaded") from None
    except OSError as exc:
        raise UploadError(f"{path}: cannot be read ({exc.strerror})") from None
    finally:
        os.close(fd)


def upload(path: Path, url: str, token: str, message: str = "", timeout: float = TIMEOUT) -> dict:
    """Upload the CSV ``path``; the server's answer (score, rank, quota)."""
    data = read_upload(path)
    return call("POST", url, wire.SUBMISSIONS, token, wire.UPLOADED, timeout,
                files={"file": (path.name, data, "text/csv")}, data={"message": message})


def describe_upload(path: Path, answer: dict) -> str:
    head = (f"{path}: same file as submission {answer['id']}, not counted again; public"
            if answer.get("duplicate") else f"{path}: submission {answer['id']}, public")
    standing = (f"private {answer['private']:.4f}; late: scored for your team, not ranked"
                if answer.get("late") else f"rank {answer['rank']}")
    left = answer.get("submissions_left_today")
    quota = "no daily limit" if left is None else \
        f"{left} submission(s) left today, the limit resets at {answer['resets_at']}"
    return f"{head} {answer['public']:.4f} ({standing}); {quota}"


def to_kaggle(path: Path, competition: str, message: str) -> str:
    """Hand the file to the official ``kaggle`` package (``competition_submit``): to Kaggle, or to a
    grader of ours when its environment says so (``competition server kaggle-config``); its refusal
    is said in one line."""
    extras.require("kaggle", "--kaggle")
    from kaggle.api.kaggle_api_extended import KaggleApi
    from requests import RequestException

    api = KaggleApi()
    try:
        api.authenticate()
    except (OSError, ValueError, SystemExit) as exc:  # kaggle 2.x exits after printing its sign-up help
        why = f" ({exc})" if not isinstance(exc, SystemExit) else ""
        raise UploadError(f"the kaggle package is not configured{why}; put your username and key in "
                          "~/.kaggle/kaggle.json (chmod 600)") from None
    try:
        result = api.competition_submit(str(path), message or path.stem, competition, quiet=True)
    except RequestException as exc:
        status = f" (HTTP {exc.response.status_code})" if exc.response is not None else ""
        raise UploadError(f"{path}: Kaggle competition {competition!r} refused it: {exc}{status}") from None
    said = getattr(result, "message", result)  # kaggle 2.x answers an object, 1.x a string
    if said == getattr(api, "COMPETITION_SUBMIT_UPLOAD_FAILED_MESSAGE", None):
        raise UploadError(f"{path}: the upload to Kaggle competition {competition!r} failed: {said}")
    return f"{path}: handed to Kaggle competition {competition!r}: {said}"


def rows_of(answer: dict, key: str, url: str) -> list[dict]:
    """The list of records ``answer[key]``; anything else is not a grader's answer."""
    if not all(isinstance(row, dict) for row in answer[key]):
        raise not_a_grader(url, f"its {key} are not records")
    return answer[key]


def table(rows: list[dict], columns: list[str]) -> str:
    shown = [[("-" if row.get(c) is None else f"{row[c]:.4f}" if isinstance(row.get(c), float) else str(row[c]))
              for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in shown]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in shown]
    return "\n".join(lines)


def build_parser() -> cli.ArgumentParser:
    parser = cli.ArgumentParser(prog="python -m competition.upload",
                                description="Upload submissions to a grader server and see the leaderboard "
                                            "(verbs as in the Kaggle CLI).",
                                epilog="examples:\n  python -m competition.upload submissions/cnn.csv -m 'flip TTA'\n"
                                       "  python -m competition.upload leaderboard\n\n"
                                       + CREDENTIALS_HELP.format(path=credentials_file()),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = parser.add_subparsers(dest="verb", required=True,
                                  metavar="{FILE,submissions,leaderboard,select,unselect,download}")
    submit = verbs.add_parser("submit", help="upload FILE (the default verb: 'upload FILE' means 'upload submit FILE')")
    submit.add_argument("file", type=Path, metavar="FILE", help="submission CSV")
    submit.add_argument("-m", "--message", default="", help="a note shown with the submission")
    submit.add_argument("--kaggle", metavar="COMPETITION",
                        help="hand the file to the official kaggle package (to Kaggle, or to the grader its "
                             "environment names: see 'server kaggle-config')")
    verbs.add_parser("submissions", help="list your team's submissions")
    verbs.add_parser("leaderboard", help="show the leaderboard")
    for verb in ("select", "unselect"):
        picked = verbs.add_parser(verb, help=f"{verb} a submission as a final pick")
        picked.add_argument("id", type=cli.int_at_least(1), help="submission id")
    fetch = verbs.add_parser("download", help="fetch the competition's data into a new or empty folder and check it")
    fetch.add_argument("--out", type=Path, default=cli.DATA, metavar="DIR",
                       help=f"a new or empty folder to unpack into, '.' included (default {cli.DATA})")
    for verb in verbs.choices.values():
        verb.formatter_class = argparse.RawDescriptionHelpFormatter
        verb.epilog = CREDENTIALS_HELP.format(path=credentials_file())
        verb.add_argument("--url", help="grader server (default: COMPETITION_URL or the credentials file)")
        verb.add_argument("--token", help="team token (default: COMPETITION_TOKEN, or the credentials file's "
                                          "when the server is the file's)")
        verb.add_argument("--timeout", type=cli.positive_number, default=TIMEOUT, metavar="SECONDS",
                          help=f"give up on a request after this long in all (default {TIMEOUT:g}; at most "
                               f"{CONNECT_TIMEOUT:g} of them to connect; download: this long without a byte)")
    return parser


@cli.guarded
def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in VERBS and not argv[0].startswith("-"):
        argv.insert(0, "submit")  # 'upload FILE', as 'kaggle competitions submit -f FILE'
    args = build_parser().parse_args(argv)
    if args.verb == "submit" and args.kaggle:
        print(to_kaggle(args.file, args.kaggle, args.message))
        return 0
    url, token = resolve(args.url, args.token, need_token=args.verb != "leaderboard")
    if args.verb == "submit":
        print(describe_upload(args.file, upload(args.file, url, token, args.message, args.timeout)))
    elif args.verb == "submissions":
        answer = call("GET", url, wire.SUBMISSIONS, token, wire.LISTED, args.timeout)
        rows = rows_of(answer, "submissions", url)
        print(f"team {answer['team']}" + (" (disabled by the host)" if answer.get("disabled") else "") + ":")
        columns = (["id", "time", "member", "name", "status", "public"]
                   + (["private"] if any("private" in r for r in rows) else []) + ["selected", "late", "message"])
        print(table(rows, columns))
    elif args.verb == "download":
        out = download(url, token, args.out, args.timeout)
        print(f"downloaded into {out}/\n{summary(load_competition(out))}")
    elif args.verb == "leaderboard":
        answer = call("GET", url, wire.LEADERBOARD, None, wire.BOARD, args.timeout)
        rows = rows_of(answer, "teams", url)
        if answer["revealed"]:  # as the page and the export: the public score of the pick that decided the rank
            print("ended: ranked by the private score of each team's deciding pick; public is that pick's public score")
            rows = [{**row, "public": row.get("final_public", row.get("public"))} for row in rows]
        columns = ["rank", "team", "public"] + (["private"] if answer["revealed"] else []) + ["submissions", "last"]
        rows = [{**row, "team": f"{row.get('team')} (disabled)"} if row.get("disabled") is True else row
                for row in rows]  # marked as the web board marks it
        print(table(rows, columns))
    else:
        answer = call("POST" if args.verb == "select" else "DELETE", url, wire.SELECT.format(submission=args.id),
                      token, wire.PICKED, args.timeout)
        print(f"submission {answer['id']} is {'now' if answer['selected'] else 'no longer'} a final pick")
    return 0


if __name__ == "__main__":
    sys.exit(main())
