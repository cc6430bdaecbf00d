"""Scoring submissions against the answer key, locally or for the server.

    validate     the checks every submission passes
    grader       the grader and the command (``python -m competition.grade``)
    ledger       the local ledger of graded files
    standings    the one ranking rule, shared by leaderboard.md and the server
    leaderboard  leaderboard.md from the ledger (``python -m competition.leaderboard``)
"""
