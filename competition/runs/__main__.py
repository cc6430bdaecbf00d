"""``python -m competition.runs``: list or compare run folders."""

import sys

from .folder import main

if __name__ == "__main__":
    sys.exit(main())
