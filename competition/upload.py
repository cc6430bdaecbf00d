"""``python -m competition.upload``, kept: the module is ``competition.client.upload``."""

import sys

from .client.upload import main

if __name__ == "__main__":
    sys.exit(main())
