"""``python -m fastnn``: the same command line as the ``fastnn`` script (:mod:`fastnn.tools.cli`)."""

import sys

from fastnn.tools.cli import main

if __name__ == "__main__":
    sys.exit(main())
