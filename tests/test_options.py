"""The options several commands share are declared once (``competition.cli.add_*``): each reads the
same in every command's ``--help``, less what it does besides in that command (after the common part)."""

from __future__ import annotations

import argparse
import re

import pytest

from competition import cli
from competition.__main__ import main
from competition.errors import InputError

SHARED = ("--data", "--folds", "--seed", "--limit", "--param", "--runs-dir", "--workers", "--scheduler")
# the commands whose --data, --workers ... are these options (report --data, server's --workers mean other things)
COMMANDS = ("cv", "tune", "shift", "submit", "grade", "runs")


@pytest.fixture(autouse=True)
def plain_names():
    yield
    cli.PROG_NAMES.clear()


def helps(verb: str, capsys) -> dict[str, str]:
    """Option -> its help text, from ``competition VERB --help`` printed on one line per option."""
    with pytest.raises(SystemExit):
        main([verb, "--help"])
    text = capsys.readouterr().out
    found = {}
    for match in re.finditer(r"^  (--[\w-]+)(?: [A-Z_=]+)?\s{2,}(.+)$", text, re.MULTILINE):
        found[match.group(1)] = match.group(2)
    return found


def test_the_shared_options_read_the_same_in_every_command(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # argparse wraps at the terminal's width: one line per option
    texts: dict[str, dict[str, str]] = {}
    for verb in COMMANDS:
        for option, text in helps(verb, capsys).items():
            if option in SHARED:
                texts.setdefault(option, {})[verb] = text
    assert set(texts) == set(SHARED)
    assert texts["--folds"]["cv"] == "number of stratified folds (default 5)"
    for option, by_verb in texts.items():
        common = min(by_verb.values(), key=len).split(" (default")[0].removesuffix(" (repeatable)")
        common = re.sub(r" (\w+ )?(training rows|images).*", "", common)  # what --limit samples is the command's
        different = {verb: text for verb, text in by_verb.items() if not text.startswith(common)}
        assert not different, (option, common, different)
    assert len(texts["--workers"]) == len(texts["--scheduler"]) == 4 and len(set(texts["--workers"].values())) == 1
    assert len(set(texts["--data"].values())) == 1 and len(texts["--data"]) == 5


@pytest.mark.parametrize("parse, text, said", [
    (cli.int_at_least(2), "x", "expected an integer, got 'x'"),
    (cli.int_at_least(2), "1", "must be at least 2, got 1"),
    (cli.int_at_least(0, 9), "10", "must be from 0 to 9, got 10"),
    (cli.positive_number, "-1", "must be a number above 0, got -1"),
    (cli.positive_number, "inf", "must be a number above 0, got inf"),
    (cli.fraction(), "1", "must be a fraction between 0 and 1, got 1"),
    (cli.fraction(), "half", "expected a fraction, got 'half'"),
    (cli.fraction(" (0.95 for 95%)"), "95", "must be a fraction between 0 and 1 (0.95 for 95%), got 95"),
])
def test_every_number_type_reads_and_bounds_its_number_the_same_way(parse, text, said):
    """One reader of numbers (``cli.bounded``) behind every numeric option: what it says when the
    text is no number, and when the number is out of bounds."""
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        parse(text)
    assert str(refused.value) == said


def test_the_bound_past_the_parser_says_what_the_option_says():
    cli.at_least("--limit", None)
    cli.at_least("--limit", 1)
    with pytest.raises(InputError, match=r"^--limit must be at least 1, got 0$"):
        cli.at_least("--limit", 0)
