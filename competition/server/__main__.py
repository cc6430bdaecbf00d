"""``python -m competition.server``: the host's commands (see ``competition.server``).

Every command but ``serve`` acts on the grader's database, so it changes a running server at once.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sqlite3
import sys
from datetime import datetime
from pathlib import Path

from .. import cli, clock, extras
from ..data.records import Layout
from ..data.tables import host_csv
from ..errors import InputError
from ..fsutil import read_regular
from ..workers import bounded
from . import settings as rules
from .ladder import BOARDS
from .settings import BODY_TIMEOUT, HEADER_TIMEOUT
from .store import Store, StoreError, check_roster_name, new_token, token_hash

DB = Path("grader.sqlite")
HOST_BUSY_SECONDS = 5  # a host's command waits this long for another process's write lock, then says so
FIRST_YEAR, LAST_YEAR = 1970, 9998  # a deadline's years: ISO times with four digits, a day to spare either side
MAX_OVERVIEW = 200_000  # bytes of the competition page's Markdown
SERVE_DEFAULTS = "(default %(default)s; stored with the competition at its first start, then changed with 'set')"


def deadline(text: str) -> datetime | None:
    """An ISO time with its time zone (``2026-12-01T18:00Z``, ``...+09:00``), or ``none``."""
    if text.strip().lower() == "none":
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO time such as 2026-12-01T18:00Z, got {text!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone: add Z for UTC (2026-12-01T18:00Z) or an "
                                         f"offset (2026-12-01T18:00+09:00)")
    try:
        moment = clock.parse(moment.isoformat())
    except (OverflowError, ValueError):
        moment = None
    if moment is None or not FIRST_YEAR <= moment.year <= LAST_YEAR:  # 0001 and 9999 cannot be shown or counted
        raise argparse.ArgumentTypeError(f"{text!r}: give a time between the years {FIRST_YEAR} and {LAST_YEAR}")
    return moment


def on_off(text: str) -> bool:
    if text.lower() not in ("on", "off"):
        raise argparse.ArgumentTypeError(f"expected on or off, got {text!r}")
    return text.lower() == "on"


def title_text(text: str) -> str:
    try:
        rules.check_value("title", text)  # the printable-text rule (``settings.printable``)
    except InputError:
        raise argparse.ArgumentTypeError(f"use at most {rules.MAX_TITLE} printable characters of valid text") from None
    return text


def settings_options(parser: argparse.ArgumentParser, serve: bool) -> None:
    """The competition's settings, for ``serve`` (first-start defaults) and ``set`` (changes)."""
    note = (lambda key: f" (default {rules.shown(key, rules.DEFAULTS[key])}; stored at the first start, "
                        f"then changed with 'set')") if serve else (lambda key: "")
    parser.add_argument("--deadline", type=deadline, metavar="ISO-TIME",
                        help="uploads close, picks freeze and private scores show then (with a time zone: "
                             "2026-12-01T18:00Z)" + ("" if serve else "; 'none' for no deadline") + note("deadline"))
    parser.add_argument("--daily-limit", type=cli.int_at_least(1), metavar="N",
                        help="scored submissions per team and UTC day, shared by its members" + note("daily_limit"))
    parser.add_argument("--failed-limit", type=cli.int_at_least(1), metavar="N",
                        help="failed uploads per team and UTC day (they cost no quota)" + note("failed_limit"))
    parser.add_argument("--final-picks", type=cli.int_at_least(1), metavar="N",
                        help="final submissions a team may select" + note("final_picks"))
    parser.add_argument("--title", type=title_text, metavar="T", help="the competition's name on its pages"
                        + note("title"))
    parser.add_argument("--late", type=on_off, metavar="on|off",
                        help="after the end, score uploads as late (shown to their team, never ranked or picked)"
                             + note("late"))
    parser.add_argument("--public-board", choices=BOARDS, metavar="plain|ladder",
                        help="ladder: before the end a team is shown a new public score only when it beats its best "
                             "shown one by more than --ladder-step, rounded to the step (Blum & Hardt's Ladder; "
                             "the private board is unchanged)" + note("public_board"))
    parser.add_argument("--ladder-step", type=cli.positive_number, metavar="S",
                        help="the ladder's step, in the metric's units" + note("ladder_step"))


def build_parser() -> cli.ArgumentParser:
    parser = cli.ArgumentParser(
        prog="python -m competition.server", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="A shared grader for a class: teams upload CSVs over HTTP, a live leaderboard, a fair close.",
        epilog="a class, start to end:\n"
               "  python -m competition.server add-teams roster.csv --out tokens.csv\n"
               "  python -m competition.server serve --data data/fashion-mnist --deadline 2026-12-18T17:00Z\n"
               "  python -m competition.server set --daily-limit 10      # on the running server\n"
               "  python -m competition.server export --out results      # after the deadline")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add = commands.add_parser("add-team", help="add a team of one and print its token (shown once)")
    add.add_argument("name", help="team name (1-40 printable characters)")
    roster = commands.add_parser("add-teams", help="add teams from a roster CSV (team,member); tokens to a new file")
    roster.add_argument("roster", type=Path, metavar="ROSTER.csv", help="rows of team,member (a team of one: one row)")
    roster.add_argument("--out", type=Path, required=True, metavar="TOKENS.csv",
                        help="a new file (mode 0600) for team,member,token; never an existing one")
    commands.add_parser("teams", help="list teams, members, submissions and the last upload")
    rotate = commands.add_parser("rotate-token", help="print a new token for a member; the old one stops at once")
    rotate.add_argument("team")
    rotate.add_argument("--member", help="whose token (needed when the team has several members)")
    kaggle = commands.add_parser("kaggle-config", help="print one student's kaggle.json and the two lines that point "
                                                       "the official Kaggle CLI at this grader")
    kaggle.add_argument("--member", required=True, help="the roster member (kaggle.json's username)")
    kaggle.add_argument("--url", required=True, metavar="http://HOST:PORT",
                        help="the grader's address as the student's machine reaches it")
    kaggle.add_argument("--token", help="the member's current token (from add-teams' file); without it a new token "
                                        "is made and the old one stops working")
    for verb, text in (("disable-team", "stop a team's uploads and picks (its entries stay on the board, marked)"),
                       ("enable-team", "let a disabled team upload and pick again")):
        commands.add_parser(verb, help=text).add_argument("team")
    void = commands.add_parser("void", help="void one submission: kept and shown as voided, never ranked or picked")
    void.add_argument("id", type=cli.int_at_least(1), metavar="ID", help="the submission's number (as /admin and the "
                                                                          "export show it)")
    void.add_argument("--reason", required=True, metavar="TEXT",
                      help="why (shown to the team on /me and in the export; recorded in the journal)")
    commands.add_parser("unvoid", help="restore a voided submission (it ranks again; a pick it lost stays dropped)"
                        ).add_argument("id", type=cli.int_at_least(1), metavar="ID")
    change = commands.add_parser("set", help="change the competition's settings (a running server follows); "
                                             "print them all")
    settings_options(change, serve=False)
    change.add_argument("--reopen", action="store_true",
                        help="allow a new deadline for an ended competition (uploads reopen, private scores hide)")
    change.add_argument("--end-now", action="store_true", help="allow a deadline that has passed: it ends the "
                                                              "competition now")
    change.add_argument("--overview", type=Path, metavar="FILE.md",
                        help="the competition page (/overview): overview, rules, data, evaluation, timeline in "
                             "Markdown (raw HTML is shown as text); default: overview.md in the competition folder")
    serve = commands.add_parser("serve", help="run the grader server (a known competition: 'serve' alone restarts it "
                                              "with its stored folder and settings)")
    cli.add_data(serve, default=None)
    serve.add_argument("--solution", type=Path, metavar="CSV", help="answer key (default <data>.grader/solution.csv)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=cli.int_at_least(1, 65535), default=8000, help="port (default 8000)")
    serve.add_argument("--max-bytes", type=cli.int_at_least(1), default=10 * 1024 * 1024, metavar="BYTES",
                       help="largest upload (default 10 MiB)")
    serve.add_argument("--root-path", default="", metavar="PATH",
                       help="the sub-path a reverse proxy serves the grader under (/grader); links follow it")
    serve.add_argument("--ssl-certfile", type=Path, metavar="PEM", help="serve HTTPS with this certificate (uvicorn's)")
    serve.add_argument("--ssl-keyfile", type=Path, metavar="PEM", help="the certificate's private key")
    serve.add_argument("--graders", type=cli.int_at_least(1), metavar="N",
                       help="processes that validate and score uploads, fed from one queue (default: one per "
                            "core, or 1 with --workers; 1: the server's own process grades)")
    serve.add_argument("--workers", type=cli.int_at_least(1), default=1, metavar="N",
                       help="server processes answering requests, on the one database (default 1)")
    serve.add_argument("--header-timeout", type=cli.positive_number, default=HEADER_TIMEOUT, metavar="S",
                       help=f"close a connection whose request headers take longer (default {HEADER_TIMEOUT:g})")
    serve.add_argument("--body-timeout", type=cli.positive_number, default=BODY_TIMEOUT, metavar="S",
                       help=f"close a connection whose whole request takes longer (default {BODY_TIMEOUT:g})")
    settings_options(serve, serve=True)
    commands.add_parser("admin-token", help="print a new token for the /admin page (the old one stops working)")
    commands.add_parser("reveal", help="end the competition now: private scores show, uploads close, picks freeze")
    rescore = commands.add_parser("rescore", help="re-score every stored file with a corrected answer key")
    rescore.add_argument("--solution", type=Path, metavar="CSV",
                         help="the corrected key (default: the key the server uses)")
    rescore.add_argument("--data", type=Path, metavar="DIR", help="competition folder (default: the served one)")
    export = commands.add_parser("export", help="write the class result: standings, submissions, leaderboard.md/png, "
                                                "files")
    export.add_argument("--out", type=Path, default=Path("export"), metavar="DIR",
                        help="a new or empty folder (default export)")
    export.add_argument("--title", default="", help="competition name in the heading (default: the stored title)")
    for command in commands.choices.values():
        command.add_argument("--db", type=Path, help=f"the grader's database (default {DB} here; inside a competition "
                                                    f"folder, <folder>.grader/{DB} beside it, never in what it serves)")
    return parser


# --- a roster ---
def read_roster(path: Path) -> list[tuple[str, str]]:
    """``(team, member)`` pairs of a roster CSV with a ``team,member`` header; blank, duplicated or
    contradictory rows are refused, naming their lines."""
    try:
        text = read_regular(path).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise InputError(f"{path}: empty roster (expected a header team,member and one row per student)")
    header = [cell.strip().lower() for cell in rows[0]]
    if "team" not in header or "member" not in header:
        raise InputError(f"{path}, line 1: expected a header with columns team and member, got {','.join(rows[0])}")
    at_team, at_member = header.index("team"), header.index("member")
    pairs, seen, team_of = [], {}, {}
    for line, row in enumerate(rows[1:], start=2):
        cells = [cell.strip() for cell in row]
        team = cells[at_team] if len(cells) > at_team else ""
        member = cells[at_member] if len(cells) > at_member else ""
        if not team or not member:
            raise InputError(f"{path}, line {line}: a blank {'team' if not team else 'member'}; every row names a "
                             f"team and a member")
        try:
            team, member = check_roster_name(team), check_roster_name(member, "member name")
        except StoreError as exc:
            raise InputError(f"{path}, line {line}: {exc}") from None
        if (team, member) in seen:
            raise InputError(f"{path}, line {line}: {team},{member} repeats line {seen[team, member]}")
        if member in team_of and team_of[member][0] != team:
            raise InputError(f"{path}, line {line}: member {member!r} is in team {team_of[member][0]!r} on line "
                             f"{team_of[member][1]} too; a member belongs to one team")
        seen[team, member], team_of[member] = line, (team, line)
        pairs.append((team, member))
    if not pairs:
        raise InputError(f"{path}: no rows under the header")
    return pairs


def write_tokens(path: Path, made: list[tuple[str, str, str]]) -> None:
    """A new file (never over an existing one), readable by its owner only."""
    text = host_csv(("team", "member", "token"), [{"team": t, "member": m, "token": token} for t, m, token in made])
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def add_teams(store: Store, roster: Path, out: Path) -> str:
    pairs = read_roster(roster)
    if out.exists() or out.is_symlink():
        raise InputError(f"--out {out}: exists already; tokens go to a new file (nothing was added)")
    if not out.parent.is_dir():
        raise InputError(f"--out {out}: no folder {out.parent}")
    members = store.members()
    known = {member: team for team, names in members.items() for member in names}
    for team, member in pairs:
        if member in known and known[member] != team:
            raise InputError(f"{roster}: member {member!r} is in team {known[member]!r} already, not {team!r} "
                             f"(nothing was added)")
    new = [(team, member) for team, member in pairs if member not in known]
    if not new:
        return f"{roster}: every member has a token already; nothing added, {out} not written"
    made = store.add_members(new)
    try:
        write_tokens(out, made)
    except BaseException:
        store.remove_members(new)  # a member whose token nobody can see is not left behind
        raise
    teams = sorted({team for team, _ in new})
    return (f"added {len(made)} member(s) in {len(teams)} team(s); their tokens are in {out} (mode 0600: hand each "
            f"student their own line, then delete the file)")


def teams_table(store: Store, now: datetime) -> str:
    lines = [("team", "members", "ok today", "ok all", "failed today", "failed all", "last upload", "")]
    lines += [(t["team"], ", ".join(t["members"]), str(t["scored_today"]), str(t["scored"]), str(t["failed_today"]),
               str(t["failed"]), t["last"] or "-", "disabled" if t["disabled"] else "") for t in store.activity(now)]
    if len(lines) == 1:
        return "no teams yet (add-team NAME, or add-teams ROSTER.csv --out TOKENS.csv)"
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines)


def settings_text(store: Store) -> str:
    stored = rules.in_force(store.settings())
    ended = rules.ended(stored, clock.now())
    lines = [f"{rules.FLAGS[key]:<15} {rules.shown(key, stored[key])}" for key in rules.DEFAULTS]
    state = (f"ended (revealed {stored['revealed']})" if stored.get("revealed") else "ended (deadline passed)") \
        if ended else "open"
    return "\n".join(lines + [f"{'state':<15} {state}"])


def _json(value) -> str:
    return json.dumps(value)


def _given(argv: list[str], flag: str) -> bool:
    return any(arg == flag or arg.startswith(flag + "=") for arg in argv)


def rescore(store: Store, solution: Path | None, data: Path | None) -> str:
    """Validate the corrected key, keep the grader's own copy of it (``Store.own_key``: the host's file
    may then move or go) and re-score every scored file with it, in one transaction; uploads scored
    meanwhile with the old key are scored again inside it (``Store.rescore``)."""
    from ..grade.grader import Grader  # here, not above: the numeric stack would triple every host command's start

    stored = store.settings()
    data = data or (Path(stored["data"]) if stored.get("data") else None)
    if data is None:
        raise InputError("--data: this grader has not served a competition yet; name its folder")
    solution = solution or Path(stored.get("solution") or stored.get("solution_default")
                                or Layout(data).solution_csv)
    grader = Grader(data, solution)
    shares = {"public_rows": grader.public_rows, "private_rows": len(grader.solution) - grader.public_rows}

    def scored(row: dict) -> dict:
        kept = store.files / f"{row['sha256']}.csv"
        try:
            return {**grader.scores(kept.read_bytes(), source=str(kept)), **shares}
        except OSError as exc:
            raise InputError(f"{kept}: submission {row['id']}'s kept file cannot be read ({exc.strerror}); nothing "
                             f"was re-scored") from None

    rows = [row for row in store.submissions() if row["status"] == "ok"]
    scores, changed = {}, []
    for row in rows:
        new = scores[row["id"]] = scored(row)
        if abs(new["public"] - row["public"]) > 1e-12 or abs(new["private"] - (row["private"] or 0)) > 1e-12:
            changed.append(f"  {row['id']:>5} {row['team']}: public {row['public']:.4f} -> {new['public']:.4f}, "
                           f"private {row['private']:.4f} -> {new['private']:.4f}")
    _, key_sha256 = store.own_key(grader.solution_path)
    during = store.rescore(scores, {"solution": str(grader.solution_path.resolve()), "key_sha256": key_sha256}, scored,
                           note=f"with {solution}: {len(changed)} of {len(rows)} submission(s) changed")
    head = f"re-scored {len(rows) + during} submission(s) with {solution}: {len(changed)} changed"
    return "\n".join([head + (":" if changed else "")] + changed)


def default_db(here: Path) -> Path:
    """``grader.sqlite`` in the folder ``here``, unless ``here`` is inside a competition folder (a host
    who ran ``cd data/s; serve --data .``): then ``<folder>.grader/grader.sqlite`` beside it, where
    ``prepare`` keeps the answer key, so that the database (every team's scores, token hashes) never
    lands among the files it serves. Every command run from the same folder finds the same one."""
    for folder in (here, *here.parents):
        layout = Layout(folder)
        if layout.train_csv.is_file() and layout.sample_csv.is_file():
            if (here / DB).is_file():  # put there by an earlier version: never silently start a new one
                raise InputError(f"{here / DB}: a grader database inside the competition folder {folder} (its data "
                                 f"could hand it out); move it and its {DB}.* folders to {folder}.grader/, or name "
                                 f"it with --db")
            return layout.grader / DB
    return DB


@cli.guarded
def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.db = args.db or default_db(Path.cwd())
    if args.command == "serve":
        return serve(args)
    if args.command not in ("add-team", "add-teams") and not args.db.is_file():
        raise InputError(f"--db {args.db}: no grader database here (python -m competition.server add-team NAME "
                         f"or add-teams ROSTER.csv makes one)")
    try:
        return command(Store(args.db, busy_seconds=HOST_BUSY_SECONDS), args, argv)
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            raise
        held = holders(args.db)
        raise InputError(f"--db {args.db}: the grader's database is busy (another process holds its write lock"
                         + (f"; open in {', '.join(held)}" if held else "") + "); nothing was changed, try again "
                         "in a moment") from None


def holders(db: Path) -> list[str]:
    """The other processes that have ``db`` open (``pid N (command)``), as far as /proc shows them."""
    target, found = str(db.resolve()), []
    for fds in Path("/proc").glob("[0-9]*/fd"):
        pid = int(fds.parent.name)
        try:
            if pid != os.getpid() and any(os.readlink(link) == target for link in fds.iterdir()):
                command = (fds.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                found.append(f"pid {pid} ({command.strip()[:80]})")
        except OSError:  # another user's, or gone meanwhile
            continue
    return found


def command(store: Store, args, argv: list[str]) -> int:
    """One host's command on the grader's database."""
    if args.command == "add-team":
        token = store.add_team(args.name)
        print(f"team {args.name.strip()!r} added; its token (shown only now, keep it secret):\n{token}")
    elif args.command == "add-teams":
        print(add_teams(store, args.roster, args.out))
    elif args.command == "teams":
        print(teams_table(store, clock.now()))
    elif args.command == "rotate-token":
        member, token = store.rotate_token(args.team, args.member)
        print(f"new token for {member!r} of team {args.team!r} (the old one no longer works; shown only now):\n{token}")
    elif args.command == "kaggle-config":
        print(kaggle_config(store, args.member, args.url, args.token))
    elif args.command in ("void", "unvoid"):
        reason = " ".join(args.reason.split()) if args.command == "void" else None
        if args.command == "void" and not reason:
            raise InputError("--reason: say why the submission is voided (its team sees it)")
        row = store.void(args.id, reason)
        print(f"submission {args.id} of team {row['team']!r} " + (f"voided: {reason}" if reason else
                                                                  "restored: it ranks again"))
    elif args.command in ("disable-team", "enable-team"):
        store.set_disabled(args.team, args.command == "disable-team")
        print(f"team {args.team!r} {'disabled: no uploads or picks' if args.command == 'disable-team' else 'enabled'}")
    elif args.command == "set":
        print(set_settings_from(store, args, argv))
    elif args.command == "admin-token":
        token = new_token()
        with store.transaction() as db:
            db.execute("INSERT OR REPLACE INTO settings VALUES ('admin_token_sha256', ?)", (_json(token_hash(token)),))
            store.record("admin-token", "a new admin token", db)
        print(f"admin token for /admin (shown only now; any earlier one stops working):\n{token}")
    elif args.command == "reveal":
        if store.ended():
            print(f"the competition has ended already ({args.db})")
        else:
            with store.transaction() as db:
                db.execute("INSERT OR REPLACE INTO settings VALUES ('revealed', ?)", (_json(clock.iso(clock.now())),))
                store.record("reveal", "the host ended the competition", db)
            print(f"revealed: private scores show, uploads are closed and final picks frozen ({args.db})")
    elif args.command == "rescore":
        print(rescore(store, args.solution, args.data))
    else:
        from .export import export  # here, not above: its statistics (SciPy, statsmodels) take a second to import

        stored = store.settings()
        title = args.title or rules.title(stored, Path(stored.get("data") or "grader").name)
        out = export(store, args.out, title)
        print(f"wrote {out}/ (standings.csv, gradebook.csv, sameness.csv, submissions.csv, leaderboard.md, "
              f"leaderboard.png, {'shakeup.json, shakeup.png, ' if store.ended() else ''}files/)"
              + ("" if store.ended() else "; provisional: the competition has not ended, private scores withheld"))
    return 0


def kaggle_config(store: Store, member: str, url: str, token: str | None) -> str:
    """What one student needs to use the official Kaggle CLI here: kaggle.json (username = member,
    key = token) and the two environment lines (docs/hosting.md, "Students who use the Kaggle CLI")."""
    if not url.startswith(("http://", "https://")) or "://" not in url or not url.split("://", 1)[1].strip("/"):
        raise InputError(f"--url {url!r}: expected the grader's address, http://HOST:PORT")
    team = next((name for name, names in store.members().items() if member in names), None)
    if team is None:
        raise InputError(f"--member {member!r}: no such member (python -m competition.server teams lists them)")
    if token is None:
        _, token = store.rotate_token(team, member)
        head = f"a new token for {member!r} of team {team!r} (the old one no longer works; shown only now)"
    elif (store.member_of(token) or {}).get("member") != member:
        raise InputError(f"--token: not {member!r}'s current token (leave it out to make a new one)")
    else:
        head = f"the token of {member!r} of team {team!r}"
    name = Path(store.settings().get("data") or "COMPETITION").name
    return (f"{head}; hand the student these lines.\n"
            f"~/.kaggle/kaggle.json (then: chmod 600 ~/.kaggle/kaggle.json):\n"
            f"{json.dumps({'username': member, 'key': token})}\n"
            f"environment (the shell that runs kaggle):\n"
            f"export KAGGLE_API_ENVIRONMENT=LOCALHOST\n"
            f"export HTTP_PROXY={url.rstrip('/')}\n"
            f"then: kaggle competitions submit {name} -f FILE -m MESSAGE")


def set_settings_from(store: Store, args, argv: list[str]) -> str:
    wanted = {key: getattr(args, key) for key in rules.DEFAULTS if getattr(args, key) is not None}
    if args.deadline is None and _given(argv, "--deadline"):
        wanted["deadline"] = None
    overview = read_overview(args.overview) if args.overview else None
    if not wanted and not (args.reopen or args.end_now) and overview is None:
        return settings_text(store)
    now = clock.now()
    most = max((sum(1 for r in store.submissions(team) if r["selected"]) for team in store.teams()), default=0)
    with store.transaction() as db:  # read and write at once: two `set`s never interleave
        write, unset = rules.change(store.settings(), wanted, now, reopen=args.reopen, end_now=args.end_now,
                                    most_picks=most)
        db.executemany("INSERT OR REPLACE INTO settings VALUES (?, ?)",
                       [(key, _json(value)) for key, value in write.items()])
        db.executemany("DELETE FROM settings WHERE key = ?", [(key,) for key in unset])
        if overview is not None:
            db.execute("INSERT OR REPLACE INTO settings VALUES ('overview', ?)", (_json(overview),))
        changed = [f"{rules.FLAGS[key]} {rules.shown(key, value)}"
                   for key, value in write.items() if key in rules.FLAGS]
        changed += ["--overview " + str(args.overview)] if overview is not None else []
        changed += ["--reopen"] * args.reopen + ["--end-now"] * args.end_now
        counted = store.count_late_before(db, write["deadline"]) if args.reopen and "deadline" in write else 0
        if counted:
            changed.append(f"({counted} late submission(s) before the new deadline now count)")
        store.record("set", " ".join(changed), db)
    return (f"{counted} late submission(s), uploaded before the new deadline, now count and may be picked\n"
            if counted else "") + settings_text(store)


def read_overview(path: Path) -> str:
    """The competition page's Markdown: UTF-8 text of at most ``MAX_OVERVIEW`` bytes."""
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8-sig")
    except OSError as exc:
        raise InputError(f"--overview {path}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"--overview {path}: not UTF-8 text (byte {exc.start})") from None
    if len(raw) > MAX_OVERVIEW:
        raise InputError(f"--overview {path}: {len(raw):,} bytes, over the limit of {MAX_OVERVIEW:,}")
    return text


def restart_line(args) -> str:
    """Whether ``serve`` starts a new competition or restarts the one kept in ``--db``, in words (its
    first line); a restart without ``--data``/``--solution`` takes the folder and key it served last."""
    stored = Store(args.db).settings() if args.db.is_file() else {}
    if not stored.get("data"):
        args.data = args.data or cli.DATA
        where = (f"its teams are in {args.db}, which has served no competition yet" if args.db.is_file() else
                 f"there is no grader database at {args.db} yet, so one is made now")
        return f"a new competition for {args.data}: {where} (the settings come from these flags and are kept in it)"
    if args.data is None:
        args.data = Path(stored["data"])
        kept_key = stored.get("solution_default")
        if args.solution is None and kept_key and Path(kept_key).is_file():
            args.solution = Path(kept_key)
    return (f"restarting the competition kept in {args.db} with its stored settings (change them with: "
            f"python -m competition.server set ...)")


def serve(args) -> int:
    for module in ("fastapi", "uvicorn", "jinja2", "markdown_it"):
        extras.require(module, "competition server serve")
    from . import serving
    from .app import Settings, create_app, settings_to_environment

    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        raise InputError("--ssl-certfile and --ssl-keyfile go together")
    root = args.root_path.rstrip("/")
    if root and not root.startswith("/"):
        raise InputError(f"--root-path {args.root_path!r}: must start with / (as /grader)")
    serving.check_tls(args.ssl_certfile, args.ssl_keyfile)  # what can stop the start is checked before
    sock = serving.bind(args.host, args.port)  # create_app stores the first start's settings
    flags = {key: getattr(args, key) for key in rules.DEFAULTS}
    opening = restart_line(args)
    settings = Settings(data=args.data, db=args.db, solution=args.solution, max_bytes=args.max_bytes, flags=flags,
                        graders=bounded(args.graders, args.graders, "--graders")
                        or (1 if args.workers > 1 else len(os.sched_getaffinity(0))))
    app = create_app(settings)
    store = app.state.store
    scheme = "https" if args.ssl_certfile else "http"
    print(opening, flush=True)
    print(f"grading {args.data} at {scheme}://{args.host}:{args.port}{root}/ (teams: {len(store.teams())}; "
          f"change settings with: python -m competition.server set --help)\n{settings_text(store)}", flush=True)
    if args.workers > 1:  # each worker process builds its own application from the same settings
        settings_to_environment(settings)
    serving.run("competition.server.app:app_from_environment" if args.workers > 1 else app, sock=sock,
                workers=args.workers, header_timeout=args.header_timeout,
                body_timeout=args.body_timeout, root_path=root, ssl_certfile=args.ssl_certfile,
                ssl_keyfile=args.ssl_keyfile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
