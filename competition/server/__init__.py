"""The grader server: one shared grader for a class, a study group or a team.

    python -m competition.server add-teams ROSTER.csv --out TOKENS.csv   # or add-team NAME
    python -m competition.server serve --data DIR [--deadline ISO] [--daily-limit 5] ...
    python -m competition.server set|teams|rotate-token|disable-team|enable-team|rescore|reveal ...
    python -m competition.server export --out DIR
    python -m competition.server kaggle-config --member NAME --url http://HOST:PORT   # for the Kaggle CLI

``store`` keeps the settings, teams, members and submissions in SQLite (and the uploaded files by
sha256 beside it, never served); ``settings`` the rules for changing settings and for the end;
``standings`` the one ranking rule; ``app`` is the FastAPI application (``kaggle_api`` its routes for
the official Kaggle CLI); ``bundle`` the competitor's
folder as a zip; ``export`` the class result; ``templates/`` the leaderboard and upload pages. The
grading itself is ``competition.grade.grader.Grader``, the same core as the local ``grade`` command.
"""
