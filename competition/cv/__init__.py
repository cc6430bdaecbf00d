"""Cross-validation (its run folders are the ``competition.runs`` package's).

    folds       stratified folds
    crossval    the pure cross-validation (``cross_validate``, ``refit_on_all_rows``): arrays in, results
                in memory, as scikit-learn's ``model_selection``
    obtain      the experiment: ``plan`` a run, find or make it (``obtain_run``: submit and tune),
                make it (``run_cv``) into a run folder through ``competition.runs``
    __main__    the command (``python -m competition.cv``)
    cluster     Dask: folds on a local or a running cluster
    ensemble    ensembles of finished runs
    track       finished runs and submissions logged to MLflow (``python -m competition.track``)
"""
