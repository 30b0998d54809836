"""``python -m fastnn``: the same command line as the ``fastnn`` script (:mod:`fastnn.cli`)."""

import sys

from fastnn.cli import main

if __name__ == "__main__":
    sys.exit(main())
