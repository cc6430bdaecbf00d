"""``python -m competition.leaderboard``, kept: the module is ``competition.grade.leaderboard``."""

import sys

from .grade.leaderboard import main

if __name__ == "__main__":
    sys.exit(main())
