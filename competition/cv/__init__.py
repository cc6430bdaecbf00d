"""Cross-validation, and the run folders it leaves.

    folds       stratified folds
    core        the fold loop and the command (``python -m competition.cv``)
    runs        run folders: writing, reading, listing (``python -m competition.runs``)
    matching    the one rule for whether a stored run answers a request
    scoring     a fold's and a run's scores
    provenance  what produced a run or a file: commit, versions, command, time
    cluster     Dask: folds on a local or a running cluster
    ensemble    ensembles of finished runs
    track       finished runs and submissions logged to MLflow (``python -m competition.track``)
"""
