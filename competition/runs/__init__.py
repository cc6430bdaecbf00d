"""Run folders: the one record every competitor-side step shares (cv, tune and ensembles write it;
submit, report, track, compare and shift read it). Below ``cv``, ``tune``, ``submit`` and
``analysis``, it imports none of them.

    folder      writing, reading, listing run folders (``python -m competition.runs``)
    matching    the one rule for whether a stored run answers a request
    scoring     a fold's and a run's scores
    provenance  what produced a run or a file: commit, versions, command, time
"""

from .folder import *  # noqa: F401,F403
