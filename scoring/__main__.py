"""`python -m scoring ...`: the scorecard's command line under the scoring package's name.

The same commands as `python -m ops` (ops/cli.py), so `python -m scoring scorecard --engine
spark` and `python -m ops scorecard --engine spark` are one program. An entry point that
nothing imports: it is the one file of scoring/ the import contract lets reach up to ops
(`ignore_imports` in pyproject.toml), because reading a snapshot and opening an engine are
ops' work.
"""

import sys

from ops.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m scoring"))
