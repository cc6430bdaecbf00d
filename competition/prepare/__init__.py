"""Building a competition folder and its answer key: the host's side.

    __main__    the command (``python -m competition.prepare``)
    fashion     the build from Fashion-MNIST (``idx`` reads its files)
    own_images  the build from your own images (``sources`` reads them, ``duplicates`` finds copies)
    splits      the test split and the Public rows: pure functions of labels and a seed
    write       what goes into the folders: PNGs, CSVs, the answer key, competition.json
    folder      building beside the final place and replacing only what ``prepare`` built
    errors      ``PrepareError`` and ``PrepareWarning``
"""
