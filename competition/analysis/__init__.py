"""Looking at runs and data after the fact.

    shift   train against test: adversarial validation (``python -m competition.shift``)
    report  pictures of a run or of the data (``python -m competition.report``)
"""
