"""Scoring submissions against the answer key, locally or for the server.

    validate        the checks every submission passes
    answer_key      the answer key, read and checked
    public_private  the public and the private score: pure functions
    grader          the grader of one competition (``Grader``), shared by the command and the server
    local           the local grader: files into the ledger, a report per file
    __main__        the command (``python -m competition.grade``)
    ledger          the local ledger of graded files
    standings       the one ranking rule, shared by leaderboard.md and the server
    leaderboard     leaderboard.md from the ledger (``python -m competition.leaderboard``)
"""
