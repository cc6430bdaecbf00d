"""``python -m competition.prepare``: the command line of ``competition.prepare.folder``."""

import sys

from .folder import main

if __name__ == "__main__":
    sys.exit(main())
