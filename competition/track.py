"""``python -m competition.track``, kept: the module is ``competition.cv.track``."""

import sys

from .cv.track import main

if __name__ == "__main__":
    sys.exit(main())
