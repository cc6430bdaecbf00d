"""``python -m competition.compare``: the module is ``competition.analysis.compare``."""

import sys

from .analysis.compare import main

if __name__ == "__main__":
    sys.exit(main())
