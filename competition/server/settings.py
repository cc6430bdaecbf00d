"""The competition's settings and the rules for changing them: pure functions over dicts.

The settings live in the grader's database (``Store.settings``), written the first time ``serve``
starts and changed only by ``python -m competition.server set``; ``serve``'s flags are first-start
defaults, and a flag that contradicts a stored value is refused (a restart never changes the
competition). The end is never a surprise and never undone by accident:

- an ended competition (its deadline passed, or it was revealed) stays ended: a new deadline, or
  none, is refused unless ``reopen``;
- a deadline that is already past when it is given ends the competition only with ``end_now``;
- final picks are frozen at the end, so their number cannot change then either.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime

from .. import clock
from ..errors import InputError
from .ladder import BOARDS, DEFAULT_STEP, PLAIN

DEFAULTS = {"deadline": None, "daily_limit": 5, "failed_limit": 20, "final_picks": 2, "title": "", "late": False,
            "public_board": PLAIN, "ladder_step": DEFAULT_STEP}
FLAGS = {"deadline": "--deadline", "daily_limit": "--daily-limit", "failed_limit": "--failed-limit",
         "final_picks": "--final-picks", "title": "--title", "late": "--late", "public_board": "--public-board",
         "ladder_step": "--ladder-step"}
MAX_TITLE = 100
# serve's defaults for a slow client (``serving``), here so that ``serve --help`` shows them without uvicorn
HEADER_TIMEOUT = 10.0  # seconds for a request's headers
BODY_TIMEOUT = 60.0  # seconds for a whole request, its body included (10 MiB on a slow school network)


class SettingsError(InputError):
    """A settings change that would rewrite the competition's history, or an impossible value."""


def ended(stored: dict, now: datetime) -> bool:
    """Revealed, or the deadline reached (its own second included)."""
    deadline = stored.get("deadline")
    return bool(stored.get("revealed")) or (bool(deadline) and now >= clock.parse(deadline))


def shown(key: str, value) -> str:
    if key == "late":
        return "on" if value else "off"
    if key == "deadline":
        return value or "none"
    if key == "title":
        return repr(value) if value else "(competition.json's title, else the data folder's name)"
    return str(value)


def title(stored: dict, folder: str) -> str:
    """The competition's name on its pages and in its export: the host's ``set --title``, else the
    title ``prepare --title`` declared in competition.json (``serve`` records it), else ``folder``."""
    return stored.get("title") or stored.get("declared_title") or folder


UNSEEN = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}  # controls, formats (zero-width, direction overrides), no glyph


def unseen(text: str) -> str | None:
    """The first character of ``text`` a reader cannot see as itself (``Alpha\u200b`` looks like
    ``Alpha``; a right-to-left override reverses what follows), named as ``U+200B ZERO WIDTH SPACE``;
    None when every character shows."""
    for char in text:
        if unicodedata.category(char) in UNSEEN:
            return f"U+{ord(char):04X} {unicodedata.name(char, 'unnamed character')}"
    return None


NOT_TEXT, TOO_LONG = "not valid UTF-8 text", "too short or too long"


def printable(text: str, most: int, least: int = 0) -> str | None:
    """The one rule for a name people read (a team's, a member's, the competition's title): what
    breaks it, or None. ``NOT_TEXT`` (bytes a shell handed over that are not UTF-8: they could be
    neither stored nor shown), ``TOO_LONG`` (outside ``least``..``most`` characters), or the first
    character that shows as nothing or reorders the text (``unseen``)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return NOT_TEXT
    if not least <= len(text) <= most:
        return TOO_LONG
    return unseen(text)


def check_value(key: str, value) -> None:
    if key in ("daily_limit", "failed_limit", "final_picks") and (not isinstance(value, int) or value < 1):
        raise SettingsError(f"{FLAGS[key]} must be a whole number of at least 1, got {value!r}")
    if key == "public_board" and value not in BOARDS:
        raise SettingsError(f"--public-board must be one of {', '.join(BOARDS)}, got {value!r}")
    if key == "ladder_step" and (isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1e6):
        raise SettingsError(f"--ladder-step must be a positive number, got {value!r}")
    if key == "title" and printable(value, MAX_TITLE):
        raise SettingsError(f"--title: use at most {MAX_TITLE} printable characters")


def in_force(stored: dict) -> dict:
    """The settings in force: the database's (``Store.settings``) over ``DEFAULTS``, so a key a host
    never set reads as its default wherever it is read."""
    return {**DEFAULTS, **stored}


def change(stored: dict, wanted: dict, now: datetime, *, reopen: bool = False, end_now: bool = False,
           most_picks: int = 0) -> tuple[dict, tuple[str, ...]]:
    """The settings to write (and keys to remove) for ``wanted`` (key -> new value; a deadline as an
    aware datetime or None), or ``SettingsError`` saying why not and what to do instead.
    ``most_picks``: the most final picks any team holds now (``final_picks`` cannot go below it)."""
    current = in_force(stored)
    write, unset = {}, ()
    for key, value in wanted.items():
        check_value(key, value)
    over = ended(current, now)
    if "deadline" in wanted:
        new = wanted["deadline"]
        new_text = clock.iso(new) if new else None
        if over and new_text != current["deadline"]:
            if not reopen:
                since = current.get("revealed") or current["deadline"]
                raise SettingsError(f"the competition ended at {since}; a new deadline reopens it (uploads open, "
                                    f"private scores hidden again): add --reopen to mean it")
        if new is not None and new <= now and new_text != current["deadline"]:
            if not end_now:
                raise SettingsError(f"--deadline {new_text} has passed already (it is {clock.iso(now)}): that would "
                                    f"end the competition now; add --end-now to mean it, or give a later time")
        write["deadline"] = new_text
        if over and reopen:
            unset += ("revealed",)
    elif reopen:
        raise SettingsError("--reopen goes with a new --deadline (or --deadline none)")
    elif end_now:
        raise SettingsError("--end-now goes with a --deadline that has passed (it allows ending the competition "
                            "then); to end it now: python -m competition.server reveal")
    if "final_picks" in wanted and wanted["final_picks"] != current["final_picks"]:
        if over and not reopen:
            raise SettingsError("the competition has ended: final picks are frozen, so their number is too")
        if wanted["final_picks"] < most_picks:
            raise SettingsError(f"--final-picks {wanted['final_picks']}: a team holds {most_picks} picks already; "
                                f"it must unselect first")
    write.update({key: value for key, value in wanted.items() if key != "deadline"})
    return write, unset


def first_start(stored: dict, flags: dict, now: datetime) -> dict:
    """What ``serve`` writes: each setting not stored yet takes its flag, else its default; a flag
    that contradicts a stored value is refused, naming the ``set`` command that changes it."""
    write = {}
    for key, default in DEFAULTS.items():
        given = flags.get(key)
        if key == "deadline" and given is not None:
            given = clock.iso(given)
        if key in stored:
            if given is not None and given != stored[key]:
                raise SettingsError(
                    f"{FLAGS[key]} {shown(key, given)}: this competition's {key.replace('_', ' ')} is "
                    f"{shown(key, stored[key])}, kept in its database; change it with: python -m competition.server "
                    f"set {FLAGS[key]} ... (serve's flags only set a new competition's defaults)")
            continue
        value = default if given is None else given
        if key == "deadline" and value is not None and clock.parse(value) <= now:
            raise SettingsError(f"--deadline {value} has passed already (it is {clock.iso(now)}): give a later time, "
                                f"or end a competition on purpose with: python -m competition.server set "
                                f"--deadline ... --end-now")
        check_value(key, value)
        write[key] = value
    return write
