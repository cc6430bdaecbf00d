"""The settings rules (competition/server/settings.py) in memory: hand-made dicts and an injected
clock (``NOW``), no database and no server. The rules that keep an end from being a surprise are in
tests/server/test_rules.py; here every bound on a value, and what each function answers at its edges."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from competition import clock
from competition.server import settings

NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=timezone.utc)  # the injected clock: no test reads the real one
LATER, EARLIER = NOW + timedelta(days=7), NOW - timedelta(days=7)


@pytest.mark.parametrize("key, value", [
    ("daily_limit", 0), ("daily_limit", -3), ("daily_limit", 2.5), ("daily_limit", "5"),
    ("failed_limit", 0), ("final_picks", 0), ("final_picks", None),
    ("public_board", "stairs"), ("public_board", ""),
    ("ladder_step", 0), ("ladder_step", -0.1), ("ladder_step", 1e6), ("ladder_step", True), ("ladder_step", "0.1"),
    ("title", "x" * (settings.MAX_TITLE + 1)), ("title", "Alpha\u200b"), ("title", "a\u202eb"), ("title", "tab\there"),
])
def test_a_value_out_of_bounds_is_refused_naming_its_flag(key, value):
    with pytest.raises(settings.SettingsError, match=settings.FLAGS[key]):
        settings.check_value(key, value)


@pytest.mark.parametrize("key, value", [
    ("daily_limit", 1), ("failed_limit", 10_000), ("final_picks", 1), ("public_board", "plain"),
    ("public_board", "ladder"), ("ladder_step", 1e-6), ("ladder_step", 5), ("title", "x" * settings.MAX_TITLE),
    ("title", "Été à Zürich: les vêtements"), ("title", ""), ("late", True), ("deadline", None),
])
def test_a_value_within_bounds_passes(key, value):
    settings.check_value(key, value)


def test_unseen_names_the_first_invisible_character():
    assert settings.unseen("Fashion 2026") is None
    assert settings.unseen("Alpha\u200bBeta\u202e") == "U+200B ZERO WIDTH SPACE"
    assert settings.unseen("a\x07") == "U+0007 unnamed character"


@pytest.mark.parametrize("stored, expected", [
    ({"title": "Set", "declared_title": "Declared"}, "Set"),
    ({"title": "", "declared_title": "Declared"}, "Declared"),
    ({}, "fashion-small"),
])
def test_the_title_is_the_hosts_then_the_declared_then_the_folders(stored, expected):
    assert settings.title(stored, "fashion-small") == expected


@pytest.mark.parametrize("key, value, expected", [
    ("late", True, "on"), ("late", False, "off"), ("deadline", None, "none"),
    ("deadline", "2026-06-08T12:00:00Z", "2026-06-08T12:00:00Z"), ("title", "Mine", "'Mine'"), ("daily_limit", 3, "3"),
])
def test_a_setting_is_shown_as_the_host_types_it(key, value, expected):
    assert settings.shown(key, value) == expected


def test_the_deadline_second_is_the_end_and_a_reveal_ends_it_without_one():
    assert not settings.ended({"deadline": clock.iso(NOW)}, NOW - timedelta(seconds=1))
    assert settings.ended({"deadline": clock.iso(NOW)}, NOW)
    assert settings.ended({"revealed": clock.iso(EARLIER)}, EARLIER - timedelta(days=1)), "revealed is the end"
    assert not settings.ended({}, NOW) and not settings.ended({"deadline": ""}, NOW)


def test_a_first_start_writes_every_setting_its_flag_or_its_default():
    written = settings.first_start({}, {"final_picks": 1, "deadline": LATER, "title": "Clothes"}, NOW)
    assert written == {**settings.DEFAULTS, "final_picks": 1, "deadline": clock.iso(LATER), "title": "Clothes"}
    assert settings.first_start({"daily_limit": 9}, {}, NOW) == {k: v for k, v in settings.DEFAULTS.items()
                                                               if k != "daily_limit"}, "a stored value stays"


def test_a_first_start_checks_its_flags_as_set_does():
    with pytest.raises(settings.SettingsError, match="--daily-limit"):
        settings.first_start({}, {"daily_limit": 0}, NOW)
    with pytest.raises(settings.SettingsError, match=f"--deadline {clock.iso(NOW)} has passed already"):
        settings.first_start({}, {"deadline": NOW}, NOW)  # its own second is past


def test_a_restart_that_repeats_a_stored_deadline_in_another_zone_is_no_contradiction():
    stored = {**settings.DEFAULTS, "deadline": clock.iso(LATER)}
    paris = LATER.astimezone(timezone(timedelta(hours=2)))
    assert settings.first_start(stored, {"deadline": paris}, NOW) == {}


def test_a_change_writes_only_what_is_asked_and_checks_every_value():
    stored = {**settings.DEFAULTS, "deadline": clock.iso(LATER)}
    assert settings.change(stored, {"daily_limit": 2, "late": True}, NOW) == ({"daily_limit": 2, "late": True}, ())
    with pytest.raises(settings.SettingsError, match="--public-board"):
        settings.change(stored, {"daily_limit": 2, "public_board": "stairs"}, NOW)


def test_after_the_end_the_same_deadline_and_the_same_picks_need_no_reopen():
    stored = {**settings.DEFAULTS, "deadline": clock.iso(EARLIER)}
    assert settings.change(stored, {"deadline": EARLIER}, NOW) == ({"deadline": clock.iso(EARLIER)}, ())
    assert settings.change(stored, {"final_picks": settings.DEFAULTS["final_picks"]}, NOW)[0] == \
        {"final_picks": settings.DEFAULTS["final_picks"]}
    with pytest.raises(settings.SettingsError, match="frozen"):
        settings.change(stored, {"final_picks": 5}, NOW)
    write, unset = settings.change(stored, {"deadline": LATER, "final_picks": 5}, NOW, reopen=True)
    assert write == {"deadline": clock.iso(LATER), "final_picks": 5} and unset == ("revealed",), "a reopen unreveals"


def test_end_now_and_reopen_go_only_with_a_deadline():
    stored = {**settings.DEFAULTS}
    with pytest.raises(settings.SettingsError, match="--end-now goes with a --deadline"):
        settings.change(stored, {"daily_limit": 3}, NOW, end_now=True)
    with pytest.raises(settings.SettingsError, match="--reopen goes with a new --deadline"):
        settings.change(stored, {}, NOW, reopen=True)


def test_final_picks_may_not_drop_below_what_a_team_holds():
    stored = {**settings.DEFAULTS, "final_picks": 3}
    assert settings.change(stored, {"final_picks": 2}, NOW, most_picks=2) == ({"final_picks": 2}, ())
    with pytest.raises(settings.SettingsError, match="--final-picks 1: a team holds 2 picks already"):
        settings.change(stored, {"final_picks": 1}, NOW, most_picks=2)
