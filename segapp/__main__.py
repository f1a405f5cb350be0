"""``python -m segapp`` is ``segapp``."""

import sys

from segapp.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
