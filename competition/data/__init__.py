"""Reading a competition folder: the competitor's side of it.

    records   the competition's records (Layout, Competition)
    tables    the one CSV reader and its rules, shared with the validator and the grader
    loader    load_competition, and the ``check`` command (``python -m competition.data check``)
    images    the PNG decoder
    cache     the decoded arrays' cache
    overview  ``competition.json``: title, metric, columns
    metrics   the metrics a competition may declare, used by CV and the grader alike
"""
