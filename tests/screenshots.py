"""Refresh the screenshots in the README and docs/images/ on purpose:

    python -m tests.screenshots

Runs the browser tests that take them (Debian's Chromium, see tests/e2e/conftest.py) with
SCORECARD_DOCS_IMAGES=1, which lets `copy_to_docs` copy each into docs/images/. A plain test
run writes screenshots under artifacts/ only and never changes a committed file.
(docs/images/preread.png is a page of the pre-read PDF, not a browser screenshot.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The tests that copy a screenshot to docs/images/, and the image each writes.
TESTS = {
    "tests/e2e/test_scorecard_e2e.py::test_scorecard_loads_with_its_key_elements": "scorecard.png",
    "tests/e2e/test_call_e2e.py": "call.png",
    "tests/e2e/test_changes_e2e.py": "changes.png",
    "tests/e2e/test_deal_e2e.py": "deal.png",
}


def main() -> int:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", *TESTS]
    env = {**os.environ, "SCORECARD_DOCS_IMAGES": "1"}
    code = subprocess.call(command, cwd=ROOT, env=env)
    if code == 0:
        print("Updated:", ", ".join(f"docs/images/{name}" for name in TESTS.values()))
    return code


if __name__ == "__main__":
    sys.exit(main())
