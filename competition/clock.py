"""Times as the grader keeps them: UTC, written ISO-8601 with a ``Z``.

A grader's day is the UTC day, for the local ledger and the server alike, so a daily limit resets
at the same moment for every competitor wherever they are, and every refusal can say when.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone


def now() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    """``2026-11-25T14:03:07Z``."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(text: str) -> datetime:
    """A stored time (ours, or an older ledger's local time with its offset) as an aware UTC datetime."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def day(moment: datetime) -> tuple[datetime, datetime]:
    """The UTC day holding ``moment``: its start, and the start of the next (when limits reset)."""
    start = moment.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def until(moment: datetime, later: datetime) -> str:
    """``3h12m``: how long from ``moment`` to ``later``."""
    minutes = max(0, int((later - moment).total_seconds() // 60))
    return f"{minutes // 60}h{minutes % 60:02d}m"
