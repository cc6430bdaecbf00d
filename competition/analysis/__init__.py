"""Looking at runs and data after the fact: readers of run folders and submissions, below ``cv``
(whose ``--report`` draws through them) and importing none of it.

    report  pictures of a run or of the data (``python -m competition.report``)
"""
