"""``python -m competition.grade``: the command line of ``competition.grade.core``."""

import sys

from .core import main

if __name__ == "__main__":
    sys.exit(main())
