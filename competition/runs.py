"""``python -m competition.runs``, kept: the module is ``competition.cv.runs``."""

import sys

from .cv.runs import main

if __name__ == "__main__":
    sys.exit(main())
