"""The ``competition`` console script: each verb is its module's own command line, run in-process."""

from __future__ import annotations

import subprocess
import sys

import pytest

from competition import cli
from competition.__main__ import VERBS, main


@pytest.fixture(autouse=True)
def plain_names():
    yield
    cli.PROG_NAMES.clear()


@pytest.mark.parametrize("verb", list(VERBS))
def test_every_verb_answers_help_with_its_own_name(verb, capsys):
    with pytest.raises(SystemExit) as done:
        main([verb, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: competition {verb}"), text[:200]


def test_a_verb_runs_its_module_and_the_module_keeps_its_own_name(fashion_small, capsys):
    assert main(["check", str(fashion_small)]) == 0
    assert "fingerprint" in capsys.readouterr().out
    cli.PROG_NAMES.clear()
    plain = subprocess.run([sys.executable, "-m", "competition.data", "check", "--help"], capture_output=True,
                           text=True, timeout=120)
    assert plain.returncode == 0 and plain.stdout.startswith("usage: python -m competition.data check")


def test_no_verb_an_unknown_verb_and_the_version(capsys):
    assert main([]) == 1 and "verbs:" in capsys.readouterr().out
    assert main(["nonsense"]) == 1 and "unknown verb 'nonsense'" in capsys.readouterr().err
    assert main(["--version"]) == 0 and capsys.readouterr().out.startswith("competition ")
