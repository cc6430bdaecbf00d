"""``python -m competition.grade``: the command line of ``competition.grade.grader``."""

import sys

from .grader import main

if __name__ == "__main__":
    sys.exit(main())
