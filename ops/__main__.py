"""`python -m ops ...`: the one command line (see ops/cli.py)."""

import sys

from ops.cli import main

sys.exit(main())
