"""``python -m competition.cv``: the command line of ``competition.cv.core``."""

import sys

from .core import main

if __name__ == "__main__":
    sys.exit(main())
