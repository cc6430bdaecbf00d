"""Upload to a grader server, with the verbs of the Kaggle CLI a competitor already knows.

    python -m competition.upload FILE [-m MSG]        # kaggle competitions submit -f FILE -m MSG
    python -m competition.upload submissions          # kaggle competitions submissions
    python -m competition.upload leaderboard          # kaggle competitions leaderboard --show
    python -m competition.upload select ID | unselect ID
    python -m competition.upload download [--out DIR]  # kaggle competitions download
    python -m competition.upload FILE --kaggle COMPETITION   # hand the file to Kaggle's own API

The server's address and the team's token come from ``--url``/``--token``, else the variables
``COMPETITION_URL``/``COMPETITION_TOKEN``, else a credentials file (``~/.competition/credentials.json``
or ``COMPETITION_CREDENTIALS``: ``{"url": ..., "token": ...}``) that only its owner may read: like
the Kaggle CLI, a token file others can read is refused. Exit code 1 on any refusal, with the
server's own message.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
from pathlib import Path

from . import cli
from .errors import InputError

VERBS = ("submit", "submissions", "leaderboard", "select", "unselect", "download")
CREDENTIALS = Path.home() / ".competition" / "credentials.json"


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
    return found if isinstance(found, dict) else {}


def resolve(url: str | None, token: str | None, need_token: bool = True) -> tuple[str, str | None]:
    """The server's URL and the token: flags, else environment, else the credentials file."""
    saved = {} if (url or os.environ.get("COMPETITION_URL")) and (token or os.environ.get("COMPETITION_TOKEN")) \
        else read_credentials(credentials_file())
    url = url or os.environ.get("COMPETITION_URL") or saved.get("url")
    token = token or os.environ.get("COMPETITION_TOKEN") or saved.get("token")
    if not url:
        raise UploadError(f"no server address: give --url, set COMPETITION_URL, or write it to {credentials_file()}")
    if need_token and not token:
        raise UploadError(f"no team token: give --token, set COMPETITION_TOKEN, or write it to {credentials_file()}")
    return url.rstrip("/"), token


def call(method: str, url: str, token: str | None, **kwargs) -> dict:
    """One request; the JSON answer, or ``UploadError`` with the server's message and status."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.request(method, url, headers=headers, timeout=120, **kwargs)
    except httpx.HTTPError as exc:
        raise UploadError(f"cannot reach {url} ({exc})") from None
    try:
        answer = response.json()
    except ValueError:
        answer = {"error": response.text[:200]}
    if response.status_code >= 400:
        raise UploadError(f"{answer.get('error', 'refused')} (HTTP {response.status_code})")
    return answer


def upload(path: Path, url: str, token: str, message: str = "") -> dict:
    """Upload the CSV ``path``; the server's answer (score, rank, quota)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UploadError(f"{path}: cannot be read ({exc.strerror})") from None
    return call("POST", f"{url}/api/submissions", token, files={"file": (path.name, data, "text/csv")},
                data={"message": message})


def describe_upload(path: Path, answer: dict) -> str:
    head = (f"{path}: same file as submission {answer['id']}, not counted again; public"
            if answer.get("duplicate") else f"{path}: submission {answer['id']}, public")
    standing = (f"private {answer['private']:.4f}; late: scored for your team, not ranked"
                if answer.get("late") else f"rank {answer['rank']}")
    return (f"{head} {answer['public']:.4f} ({standing}); {answer['submissions_left_today']} "
            f"submission(s) left today, the limit resets at {answer['resets_at']}")


def to_kaggle(path: Path, competition: str, message: str) -> str:
    """Hand the file to the official ``kaggle`` package (``competition_submit``); say what is missing."""
    try:
        from kaggle.api.kaggle_api_extended import KaggleApi
    except ImportError:
        raise UploadError("--kaggle needs the official Kaggle package: pip install kaggle") from None
    api = KaggleApi()
    try:
        api.authenticate()
    except (OSError, ValueError) as exc:
        raise UploadError(f"the kaggle package is not configured ({exc}); put your API token in "
                          "~/.kaggle/kaggle.json (chmod 600)") from None
    result = api.competition_submit(str(path), message or path.stem, competition)
    return f"{path}: handed to Kaggle competition {competition!r}: {result}"


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
                                       "  python -m competition.upload leaderboard",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="{FILE,submissions,leaderboard,select,unselect,download}")
    submit = verbs.add_parser("submit", help="upload FILE (the default verb: 'upload FILE' means 'upload submit FILE')")
    submit.add_argument("file", type=Path, metavar="FILE", help="submission CSV")
    submit.add_argument("-m", "--message", default="", help="a note shown with the submission")
    submit.add_argument("--kaggle", metavar="COMPETITION", help="hand the file to Kaggle's API instead of our server")
    verbs.add_parser("submissions", help="list your team's submissions")
    verbs.add_parser("leaderboard", help="show the leaderboard")
    for verb in ("select", "unselect"):
        picked = verbs.add_parser(verb, help=f"{verb} a submission as a final pick")
        picked.add_argument("id", type=cli.int_at_least(1), help="submission id")
    fetch = verbs.add_parser("download", help="fetch the competition's data into a new or empty folder and check it")
    fetch.add_argument("--out", type=Path, default=cli.DATA, metavar="DIR", help=f"where to unpack (default {cli.DATA})")
    for verb in verbs.choices.values():
        verb.add_argument("--url", help="grader server (default: COMPETITION_URL or the credentials file)")
        verb.add_argument("--token", help="team token (default: COMPETITION_TOKEN or the credentials file)")
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
        print(describe_upload(args.file, upload(args.file, url, token, args.message)))
    elif args.verb == "submissions":
        answer = call("GET", f"{url}/api/submissions", token)
        rows = answer["submissions"]
        print(f"team {answer['team']}" + (" (disabled by the host)" if answer.get("disabled") else "") + ":")
        columns = ["id", "time", "member", "name", "status", "public"] + (["private"] if any("private" in r for r in rows)
                                                                          else []) + ["selected", "late", "message"]
        print(table(rows, columns))
    elif args.verb == "download":
        from .data import load_competition, summary
        from .download import download

        out = download(url, token, args.out)
        print(f"downloaded into {out}/\n{summary(load_competition(out))}")
    elif args.verb == "leaderboard":
        answer = call("GET", f"{url}/api/leaderboard", None)
        columns = ["rank", "team", "public"] + (["private"] if answer["revealed"] else []) + ["submissions", "last"]
        print(table(answer["teams"], columns))
    else:
        answer = call("POST" if args.verb == "select" else "DELETE", f"{url}/api/submissions/{args.id}/select", token)
        print(f"submission {answer['id']} is {'now' if answer['selected'] else 'no longer'} a final pick")
    return 0


if __name__ == "__main__":
    sys.exit(main())
