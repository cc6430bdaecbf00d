"""Cross-validation (its run folders are the ``competition.runs`` package's).

    folds       stratified folds
    core        the fold loop and the command (``python -m competition.cv``)
    cluster     Dask: folds on a local or a running cluster
    ensemble    ensembles of finished runs
    track       finished runs and submissions logged to MLflow (``python -m competition.track``)
"""
