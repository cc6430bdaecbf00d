"""The grader's wire contract: the paths it answers, the header names it sends, and the shape of its
answers, in one place that the server (``server/``) and the competitor's client (``client/``) both
import. The client's install (``[client]``: httpx and the base) then never imports ``server/``
(FastAPI, the store), and a path or header renamed on one side is renamed on the other.

Standard library only, and nothing else of ``competition``: it sits on the floor with ``cli`` and
``errors``. The Kaggle CLI's routes (``server/kaggle_api.py``) follow Kaggle's own contract, not this one.
"""

from __future__ import annotations

# --- paths (FastAPI's syntax: ``SELECT.format(submission=7)`` is a request's path) ---
HEALTH = "/healthz"
SUBMISSIONS = "/api/submissions"  # POST: an upload (multipart ``file``, ``message``); GET: the team's own
SELECT = "/api/submissions/{submission}/select"  # POST picks a final submission, DELETE unpicks it
LEADERBOARD = "/api/leaderboard"
DATA = "/api/data"  # the competitor's folder as one zip
ADMIN = "/api/admin"

# --- headers ---
DATA_SHA256_HEADER = "X-Content-SHA256"  # the data zip's sha256, which the client checks what arrived against

# --- answers: key -> type of what each answer holds at least (an error is {"error": "..."}) ---
NUMBER = (int, float)
UPLOADED = {"id": int, "public": NUMBER, "resets_at": str}  # POST SUBMISSIONS
RANKED, LATE = {"rank": int}, {"private": NUMBER}  # an upload's standing: its rank, or after the end its private score
LISTED = {"team": str, "submissions": list}  # GET SUBMISSIONS
BOARD = {"revealed": bool, "teams": list}  # GET LEADERBOARD
PICKED = {"id": int, "selected": bool}  # POST/DELETE SELECT


def lacking(answer, expect: dict) -> list[str]:
    """The keys of ``expect`` (key -> type) that ``answer`` lacks or holds with another type (a bool
    is no number): anything else, a proxy's page or another service's JSON, is not a grader's answer."""
    return [key for key, kind in expect.items() if not isinstance(answer, dict) or not isinstance(answer.get(key), kind)
            or (kind is NUMBER and isinstance(answer[key], bool))]

