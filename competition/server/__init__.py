"""The grader server: one shared grader for a class, a study group or a team.

    python -m competition.server add-team NAME [--db grader.sqlite]
    python -m competition.server serve --data DIR [--db grader.sqlite] [--port 8000] [--daily-limit 5] ...
    python -m competition.server reveal [--db grader.sqlite]
    python -m competition.server export [--db grader.sqlite] [--out DIR]

``store`` keeps teams and submissions in SQLite (and the uploaded files by sha256 beside it, never
served); ``app`` is the FastAPI application; ``templates/`` the leaderboard and upload pages. The
grading itself is ``competition.grade.Grader``, the same core as the local ``grade`` command.
"""
