"""``python -m competition.prepare``: the command line of ``competition.prepare.core``."""

import sys

from .core import main

if __name__ == "__main__":
    sys.exit(main())
