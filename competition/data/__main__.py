"""``python -m competition.data``: the command line of ``competition.data.loader``."""

import sys

from .loader import main

if __name__ == "__main__":
    sys.exit(main())
