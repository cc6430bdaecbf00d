"""``python -m competition.server``: add teams, serve, reveal, export (see ``competition.server``)."""

from __future__ import annotations

import argparse
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path

from .. import cli, clock
from ..errors import InputError
from ..fsutil import ensure_dir
from .store import Store

DB = Path("grader.sqlite")


def deadline(text: str) -> datetime:
    """An ISO time (``2026-12-01T18:00`` is read as UTC, ``...+09:00`` as given)."""
    try:
        return clock.parse(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO time such as 2026-12-01T18:00Z, got {text!r}") from None


def build_parser() -> cli.ArgumentParser:
    parser = cli.ArgumentParser(prog="python -m competition.server",
                                description="A shared grader: teams upload CSVs over HTTP; a live leaderboard.")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add-team", help="add a team and print its token (shown once)")
    add.add_argument("name", help="team name (1-40 printable characters)")
    serve = commands.add_parser("serve", help="run the grader server")
    serve.add_argument("--data", type=Path, default=cli.DATA, metavar="DIR", help=f"competition folder (default {cli.DATA})")
    serve.add_argument("--solution", type=Path, metavar="CSV", help="answer key (default <data>.grader/solution.csv)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=cli.int_at_least(1, 65535), default=8000, help="port (default 8000)")
    serve.add_argument("--daily-limit", type=cli.int_at_least(1), default=5, metavar="N",
                       help="scored submissions per team and UTC day (default 5)")
    serve.add_argument("--failed-limit", type=cli.int_at_least(1), default=20, metavar="N",
                       help="failed uploads per team and UTC day (default 20; they cost no quota)")
    serve.add_argument("--max-bytes", type=cli.int_at_least(1), default=10 * 1024 * 1024, metavar="BYTES",
                       help="largest upload (default 10 MiB)")
    serve.add_argument("--deadline", type=deadline, metavar="ISO-TIME", help="uploads close and private scores show then")
    serve.add_argument("--final-picks", type=cli.int_at_least(1), default=2, metavar="N",
                       help="final submissions a team may select (default 2)")
    commands.add_parser("reveal", help="end the competition now: private scores show, uploads close")
    export = commands.add_parser("export", help="write the submissions and leaderboard.md (+ png)")
    export.add_argument("--out", type=Path, default=Path("export"), metavar="DIR", help="folder to write (default export)")
    export.add_argument("--title", default="", help="competition name in the heading")
    for command in commands.choices.values():
        command.add_argument("--db", type=Path, default=DB, help=f"the grader's database (default {DB})")
    return parser


def export(store: Store, out: Path, title: str) -> Path:
    """The class's artefact, as a solo competitor's: counted files and ``leaderboard.md`` drawn by
    the same renderer, from ledger-like entries (private scores only if revealed)."""
    from ..leaderboard import write_leaderboard

    out = ensure_dir(out, "--out")
    files = ensure_dir(out / "submissions", "--out")
    revealed = store.revealed()
    entries = []
    for row in store.submissions():
        if row["status"] != "ok":
            continue
        target = files / f"{row['id']:05d}-{row['sha256'][:12]}.csv"
        if not target.exists():
            shutil.copyfile(store.files / f"{row['sha256']}.csv", target)
        entry = {"event": "grade", "status": "ok", "time": row["time"], "name": f"{row['team']} #{row['id']}",
                 "file": str(target.relative_to(out)), "sha256": row["sha256"], "metric": row["metric"],
                 "public": row["public"], "public_rows": row["public_rows"], "cv": None,
                 "recipe": {"model": row["team"]}, "message": row["message"]}
        if revealed:
            entry["private"] = row["private"]
        entries.append(entry)
    if revealed:
        entries.append({"event": "reveal", "time": clock.iso(clock.now())})
    return write_leaderboard(entries, out / "leaderboard.md", title=title or "grader")


@cli.guarded
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        import uvicorn

        from .app import Settings, create_app

        app = create_app(Settings(data=args.data, db=args.db, solution=args.solution, daily_limit=args.daily_limit,
                                  failed_limit=args.failed_limit, max_bytes=args.max_bytes, deadline=args.deadline,
                                  final_picks=args.final_picks))
        print(f"grading {args.data} at http://{args.host}:{args.port}/ (teams: {', '.join(app.state.store.teams()) or 'none yet'})",
              flush=True)
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
        return 0
    if args.command != "add-team" and not args.db.is_file():
        raise InputError(f"--db {args.db}: no grader database here (python -m competition.server add-team NAME makes one)")
    store = Store(args.db)
    if args.command == "add-team":
        token = store.add_team(args.name)
        print(f"team {args.name.strip()!r} added; its token (shown only now, keep it secret):\n{token}")
    elif args.command == "reveal":
        store.set_setting("revealed", clock.iso(datetime.now(timezone.utc)))
        print(f"revealed: private scores show and uploads are closed ({args.db})")
    else:
        print(f"wrote {export(store, args.out, args.title)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
