"""``python -m competition.shift``, kept: the module is ``competition.analysis.shift``."""

import sys

from .analysis.shift import main

if __name__ == "__main__":
    sys.exit(main())
