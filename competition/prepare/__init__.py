"""Building a competition folder and its answer key: the host's side.

    folder      the command (``python -m competition.prepare``)
    idx         the IDX reader (Fashion-MNIST's files)
    sources     your own images
    duplicates  copies of one picture kept on one side of the split
"""
