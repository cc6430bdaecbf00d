"""The competitor's HTTP client of a grader server (the ``[client]`` install).

    upload    upload, list, pick finals (``python -m competition.upload``)
    download  fetch the competition's data
"""
